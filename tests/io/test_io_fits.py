"""FITS reading: HDU choice, compression, degenerate axes, cubes, BLANK, units, headers."""

import gzip
import tracemalloc
import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

import astrofm
from astrofm.errors import ConfigError, HeaderWarning, NoImageDataError
from astrofm.io import parse_unit, read_fits


def test_plain_fits_round_trip(fits_path, gaussians, sky_wcs):
    image = astrofm.load(fits_path)
    assert image.data.dtype == np.float32
    np.testing.assert_array_equal(image.data, gaussians)
    assert not image.mask.any()
    assert image.source == str(fits_path)
    assert image.hdu == 0
    assert image.display is False
    assert image.unit == u.Jy / u.beam
    assert image.header["BUNIT"] == "JY/BEAM"
    expected = sky_wcs(gaussians.shape)
    np.testing.assert_allclose(
        image.wcs.pixel_to_world_values([0, 50, 199], [0, 30, 99]),
        expected.pixel_to_world_values([0, 50, 199], [0, 30, 99]),
    )
    assert image.wcs.pixel_shape == (200, 100)


def test_path_and_str_and_hdulist_agree(fits_path):
    by_str = astrofm.load(str(fits_path))
    with fits.open(fits_path) as hdul:
        by_list = astrofm.load(hdul)
        by_hdu = astrofm.load(hdul[0])
    np.testing.assert_array_equal(by_str.data, by_list.data)
    np.testing.assert_array_equal(by_str.data, by_hdu.data)
    assert by_list.source == str(fits_path)
    assert by_hdu.hdu is None


def test_first_image_hdu_skips_empty_primary_and_tables(tmp_path):
    table = fits.BinTableHDU.from_columns([fits.Column("a", "E", array=np.arange(3.0))])
    image = fits.ImageHDU(np.ones((4, 5), np.float32), name="SCI")
    path = tmp_path / "multi.fits"
    fits.HDUList([fits.PrimaryHDU(), table, image]).writeto(path)
    loaded = astrofm.load(path)
    assert loaded.hdu == 2 and loaded.shape == (4, 5)
    assert astrofm.load(path, hdu="SCI").hdu == 2
    assert astrofm.load(path, hdu=("SCI", 1)).hdu == 2
    with pytest.raises(NoImageDataError, match=r"multi\.fits.*HDU 1"):
        astrofm.load(path, hdu=1)
    with pytest.raises(ConfigError, match=r"multi\.fits.*no HDU 7"):
        astrofm.load(path, hdu=7)
    with pytest.raises(ConfigError, match=r"no HDU 'ERR'"):
        astrofm.load(path, hdu="ERR")


def test_gzip_fits(fits_path, gaussians, tmp_path):
    gz = tmp_path / "gauss.fits.gz"
    gz.write_bytes(gzip.compress(fits_path.read_bytes()))
    image = astrofm.load(gz)
    np.testing.assert_array_equal(image.data, gaussians)
    assert image.wcs is not None and image.source == str(gz)


@pytest.mark.parametrize(
    ("dtype", "compression"),
    [(np.int16, "RICE_1"), (np.float32, "GZIP_2"), (np.int32, "HCOMPRESS_1")],
)
def test_tile_compressed_round_trip(tmp_path, sky_wcs, dtype, compression):
    rng = np.random.default_rng(1)
    data = rng.integers(-500, 500, (64, 48)).astype(dtype)
    # quantize_level=0 with no dither keeps floats lossless.
    hdu = fits.CompImageHDU(data, header=sky_wcs(data.shape).to_header(),
                            compression_type=compression, quantize_level=0.0)
    path = tmp_path / "image.fits.fz"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    image = astrofm.load(path)
    assert image.hdu == 1
    np.testing.assert_array_equal(image.data, data.astype(np.float32))
    assert image.wcs is not None
    in_memory = astrofm.load(fits.CompImageHDU(data, compression_type=compression,
                                               quantize_level=0.0))
    np.testing.assert_array_equal(in_memory.data, data.astype(np.float32))


def radio_wcs_4d(n):
    wcs = WCS(naxis=4)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN", "STOKES", "FREQ"]
    wcs.wcs.crval = [258.25, 64.13, 1.0, 1.4e9]
    wcs.wcs.crpix = [2.0, 2.0, 1.0, 1.0]
    wcs.wcs.cdelt = [-0.0059, 0.0059, 1.0, 3e8]
    wcs.wcs.cunit = ["deg", "deg", "", "Hz"]
    return wcs


def test_degenerate_axes_squeezed_and_wcs_is_celestial(tmp_path, gaussians):
    data = gaussians[:64, :48][np.newaxis, np.newaxis]
    wcs4 = radio_wcs_4d(64)
    path = tmp_path / "radio.fits"
    fits.PrimaryHDU(data, header=wcs4.to_header()).writeto(path)
    image = astrofm.load(path)
    assert image.shape == (64, 48)
    np.testing.assert_array_equal(image.data, data[0, 0])
    assert image.wcs.naxis == 2 and image.wcs.has_celestial
    assert image.wcs.pixel_shape == (48, 64)
    x, y = np.meshgrid([0, 10.5, 47], [0, 33, 63])
    sky2 = image.wcs.pixel_to_world_values(x, y)
    full = WCS(fits.getheader(path))
    sky4 = full.pixel_to_world_values(x, y, np.zeros_like(x), np.zeros_like(x))
    np.testing.assert_allclose(sky2[0], sky4[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(sky2[1], sky4[1], rtol=0, atol=1e-12)


def test_cube_needs_plane_and_reads_it(tmp_path, sky_wcs):
    cube = np.arange(5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7)
    header = sky_wcs((6, 7)).to_header()
    header["CTYPE3"], header["CRVAL3"], header["CDELT3"], header["CRPIX3"] = (
        "FREQ", 1.4e9, 1e6, 1.0)
    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(cube, header=header).writeto(path)
    with pytest.raises(ConfigError, match=r"cube\.fits.*5 planes.*plane=k"):
        astrofm.load(path)
    image = astrofm.load(path, plane=3)
    np.testing.assert_array_equal(image.data, cube[3])
    assert image.wcs.naxis == 2
    np.testing.assert_array_equal(astrofm.load(path, plane=-1).data, cube[-1])
    with pytest.raises(ConfigError, match=r"plane=5 is out of range"):
        astrofm.load(path, plane=5)


def test_hypercube_plane_tuple(tmp_path):
    data = np.arange(2 * 1 * 3 * 4 * 5, dtype=np.float32).reshape(2, 1, 3, 4, 5)
    path = tmp_path / "hyper.fits"
    fits.PrimaryHDU(data).writeto(path)
    with pytest.raises(ConfigError, match=r"plane=\(i, j\)"):
        astrofm.load(path)
    np.testing.assert_array_equal(astrofm.load(path, plane=(1, 2)).data, data[1, 0, 2])
    np.testing.assert_array_equal(astrofm.load(path, plane=(1, 0, 2)).data, data[1, 0, 2])
    with pytest.raises(ConfigError, match="plane axes"):
        astrofm.load(path, plane=(1, 2, 0, 0))


def test_plane_of_single_plane_image_is_refused(fits_path, tmp_path):
    with pytest.raises(ConfigError, match=r"gauss\.fits.*drop the plane"):
        astrofm.load(fits_path, plane=0)
    path = tmp_path / "degenerate.fits"
    fits.PrimaryHDU(np.ones((1, 1, 3, 4), np.float32)).writeto(path)
    with pytest.raises(ConfigError, match=r"degenerate\.fits.*single plane"):
        astrofm.load(path, plane=(0, 0))


def test_plane_read_does_not_load_whole_cube(tmp_path):
    cube = np.ones((24, 256, 256), dtype=np.float32)  # 6 MiB; a plane is 256 KiB
    path = tmp_path / "big.fits"
    fits.PrimaryHDU(cube).writeto(path)
    del cube
    tracemalloc.start()
    try:
        image = astrofm.load(path, plane=7)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert image.shape == (256, 256)
    assert peak < 2 * 2**20


def test_blank_nan_inf_are_masked(tmp_path):
    raw = np.arange(20, dtype=np.int16).reshape(4, 5)
    raw[1, 1] = -32768
    path = tmp_path / "blank.fits"
    hdu = fits.PrimaryHDU(raw)
    hdu.header["BLANK"] = -32768
    hdu.writeto(path)
    image = astrofm.load(path)
    assert image.mask[1, 1] and image.mask.sum() == 1
    assert np.isnan(image.data[1, 1])
    assert image.data[0, 1] == 1.0

    scaled = tmp_path / "scaled.fits"
    hdu = fits.PrimaryHDU(raw)
    hdu.header.update(BLANK=-32768, BSCALE=2.0, BZERO=10.0)
    hdu.writeto(scaled, output_verify="silentfix")
    image = astrofm.load(scaled)
    assert image.mask[1, 1] and image.mask.sum() == 1
    assert image.data[0, 1] == 2.0 * 1 + 10.0

    floats = np.ones((4, 5), np.float32)
    floats[0, 0], floats[2, 3], floats[3, 4] = np.nan, np.inf, -np.inf
    image = astrofm.load(fits.PrimaryHDU(floats))
    assert image.mask.sum() == 3 and np.isnan(image.data[image.mask]).all()


def test_unsigned_int_via_bzero(tmp_path):
    data = np.array([[0, 1, 65535], [7, 8, 9]], dtype=np.uint16)
    path = tmp_path / "u16.fits"
    fits.PrimaryHDU(data).writeto(path)
    np.testing.assert_array_equal(astrofm.load(path).data, data.astype(np.float32))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("JY/BEAM", u.Jy / u.beam), ("Jy/beam", u.Jy / u.beam), ("mJy/beam", u.mJy / u.beam),
     ("MJy/sr", u.MJy / u.sr), ("adu", u.adu), ("K", u.K), ("HZ", u.Hz), ("", None),
     (None, None)],
)
def test_parse_unit(text, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_unit(text) == expected


@pytest.mark.parametrize("text", ["nonsense", "MJY/SR", "COUNTS/S"])
def test_unparseable_unit_warns_and_gives_none(tmp_path, write_fits, text):
    path = write_fits(tmp_path / "unit.fits", np.ones((3, 3), np.float32), BUNIT=text)
    with pytest.warns(HeaderWarning, match=r"unit\.fits.*BUNIT"):
        image = astrofm.load(path)
    assert image.unit is None


def _with_tab_in_comment(path):
    """Put a TAB into a COMMENT card, as SkyView did in the MiraBest FITS."""
    raw = bytearray(path.read_bytes())
    at = raw.index(b"COMMENT has a tab")
    raw[at + 11] = 0x09
    path.write_bytes(bytes(raw))
    return path


def test_header_with_tab_loads_with_one_header_warning(tmp_path, write_fits, sky_wcs):
    # The card is verified when the WCS is built, on its first access.
    data = np.ones((8, 9), np.float32)
    path = write_fits(tmp_path / "tabs.fits", data, sky_wcs(data.shape))
    with fits.open(path, mode="update") as hdul:
        hdul[0].header.add_comment("has a tab here")
        hdul[0].header.add_comment("has a tab there")
    _with_tab_in_comment(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = astrofm.load(path)
        has_wcs = image.wcs is not None
    header_warnings = [w for w in caught if issubclass(w.category, HeaderWarning)]
    assert len(header_warnings) == 1, [str(w.message) for w in caught]
    assert "tabs.fits" in str(header_warnings[0].message)
    assert all(issubclass(w.category, HeaderWarning) for w in caught)
    assert header_warnings[0].filename == __file__
    assert image.shape == (8, 9) and has_wcs


def test_broken_wcs_warns_and_loads_without_wcs(tmp_path, write_fits):
    path = write_fits(tmp_path / "badwcs.fits", np.ones((4, 4), np.float32),
                      CTYPE1="RA---XYZ", CTYPE2="DEC--XYZ")
    image = astrofm.load(path)
    with pytest.warns(HeaderWarning, match=r"badwcs\.fits.*WCS"):
        assert image.wcs is None


def test_non_celestial_wcs_is_dropped_quietly(tmp_path, write_fits):
    path = write_fits(tmp_path / "linear.fits", np.ones((4, 4), np.float32),
                      CTYPE1="LINEAR", CTYPE2="LINEAR")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert astrofm.load(path).wcs is None


def test_read_fits_rejects_hdu_with_single_hdu():
    with pytest.raises(ConfigError, match="single HDU"):
        read_fits(fits.ImageHDU(np.ones((2, 2))), hdu=1)
