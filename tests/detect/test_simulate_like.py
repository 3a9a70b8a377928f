"""Fields matched to a target image: measured noise, beam and sources; catalogue labels."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from astropy.convolution import Gaussian2DKernel, convolve_fft
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from astrofm import AstroImage
from astrofm.detect import measure_target, simulate_like, write_simulated, write_simulated_like
from astrofm.errors import ConfigError

RMS, BKG, BEAM, SIZE = 2e-3, 5e-3, 3.0, 128
SCALE = 2.0 / 3600  # degrees per pixel
#: Pixel positions (0-based x, y) and peaks in rms of the target's sources.
SOURCES = [(20.3, 30.1, 60.0), (70.5, 90.2, 40.0), (100.1, 15.7, 80.0), (45.0, 110.4, 30.0),
           (90.7, 60.3, 50.0)]
DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "pybdsf_wsrt_abell2255"


def pure_noise(seed=0):
    """White noise convolved with the beam on a torus, scaled to RMS."""
    white = np.random.default_rng(seed).standard_normal((SIZE, SIZE))
    noise = convolve_fft(white, Gaussian2DKernel(BEAM / (2 * np.sqrt(2 * np.log(2)))),
                         boundary="wrap")
    return noise * RMS / noise.std()


def point_sources():
    yy, xx = np.mgrid[:SIZE, :SIZE]
    sigma = BEAM / (2 * np.sqrt(2 * np.log(2)))
    return sum(p * RMS * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
               for x, y, p in SOURCES)


def header(bmaj=BEAM * SCALE, bmin=BEAM * SCALE, bpa=0.0, cdelt=SCALE):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [150.0, 30.0]
    wcs.wcs.crpix = [SIZE / 2, SIZE / 2]
    wcs.wcs.cdelt = [-cdelt, cdelt]
    out = wcs.to_header()
    out["BMAJ"], out["BMIN"], out["BPA"] = bmaj, bmin, bpa
    return out


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """A FITS target: background, beam-correlated noise and five bright point sources."""
    path = tmp_path_factory.mktemp("target") / "target.fits"
    fits.PrimaryHDU((BKG + pure_noise() + point_sources()).astype(np.float32),
                    header=header()).writeto(path)
    return path


def acf_fwhm(images):
    """FWHM in pixels of the mean autocorrelation of images (np.fft, wrapped lags)."""
    acf = np.mean([np.fft.ifft2(np.abs(np.fft.fft2(a - a.mean())) ** 2).real for a in images], 0)
    acf /= acf[0, 0]
    cut = (acf[0, :10] + acf[:10, 0]) / 2
    k = int(np.argmax(cut < 0.5))
    return 2 * (k - 1 + (cut[k - 1] - 0.5) / (cut[k - 1] - cut[k]))


def test_measured_rms_background_and_beam_match_the_known_ones(target):
    stats = measure_target(target)
    assert np.median(stats.rms) == pytest.approx(RMS, rel=0.1)
    assert np.median(stats.background) == pytest.approx(BKG, abs=0.2 * RMS)
    assert stats.beam == pytest.approx((BEAM, BEAM, 0.0), abs=1e-6)
    # Five 30-80 sigma sources: five islands above 5 sigma.
    assert stats.island_density * SIZE ** 2 == pytest.approx(len(SOURCES))


def test_beam_from_bmaj_bmin_bpa_and_cdelt_worked_out_by_hand():
    # BMAJ 0.015 deg and BMIN 0.01 deg on 0.005 deg pixels: 3 and 2 pixels. BPA 30 deg
    # runs from north (+y) towards east (-x, as CDELT1 < 0): 120 deg from +x.
    hdr = header(bmaj=0.015, bmin=0.01, bpa=30.0, cdelt=0.005)
    image = AstroImage(pure_noise()[:64, :64], wcs=WCS(hdr), header=hdr)
    major, minor, theta = measure_target(image).beam
    assert (major, minor) == pytest.approx((3.0, 2.0), rel=1e-9)
    assert theta == pytest.approx(np.deg2rad(120.0), rel=1e-9)


def test_patches_hold_no_pixel_of_the_target_sources(target):
    from photutils.segmentation import detect_sources

    data = fits.getdata(target).astype(float)
    islands = detect_sources(data - BKG, 3 * RMS, n_pixels=1).data
    on_source = np.isin(islands, [islands[round(y), round(x)] for x, y, _ in SOURCES])
    fields = simulate_like(target, 16, shape=32, n_sources=0, max_masked=1.0, seed=0)
    covered = 0
    for image, sources in fields:
        x0, y0 = sources.meta["origin"]
        assert sources.meta["turn"] == (False, False, False)   # 16 distinct tiles
        window = np.s_[y0:y0 + 32, x0:x0 + 32]
        inside = on_source[window]
        covered += inside.sum()
        assert not np.any(image.data[inside] == data[window][inside].astype(np.float32))
        assert np.all(np.abs(image.data[inside] - BKG) < 6 * RMS)
    assert covered == on_source.sum() > 0


def test_refilled_noise_has_the_target_correlation_and_rms(tmp_path):
    noise = pure_noise(seed=1)
    data = BKG + noise
    data[:64, :64] = np.nan   # refilled from the measured autocorrelation
    image = AstroImage(data.astype(np.float32), wcs=WCS(header()), header=header())
    fields = simulate_like(image, 16, shape=32, n_sources=0, max_masked=1.0, seed=3)
    synthetic = [f.data.astype(float) for f, s in fields
                 if s.meta["origin"][0] < 64 and s.meta["origin"][1] < 64]
    assert len(synthetic) == 4
    # Beam-convolved white noise: autocorrelation FWHM sqrt(2) beams.
    assert acf_fwhm([noise]) == pytest.approx(math.sqrt(2) * BEAM, rel=0.1)
    assert acf_fwhm(synthetic) == pytest.approx(acf_fwhm([noise]), rel=0.15)
    assert np.std(synthetic) == pytest.approx(RMS, rel=0.15)
    assert np.mean(synthetic) == pytest.approx(BKG, abs=0.3 * RMS)


def test_faint_sources_are_injected_but_not_labelled(target):
    options = {"shape": 32, "snr": (2.0, 20.0), "seed": 4}
    plain = simulate_like(target, 6, n_sources=0, **options)
    fields = simulate_like(target, 6, n_sources=(8, 12), **options)
    faint = 0
    for (image, sources), (empty, _) in zip(fields, plain, strict=True):
        model = image.data.astype(float) - empty.data
        ix, iy = sources["x"].astype(int), sources["y"].astype(int)
        # Peak S/N is against the local rms: here the known RMS.
        assert np.allclose(sources["peak"] / sources["snr"], RMS, rtol=0.15)
        assert np.all(model[iy, ix] > 0.5 * sources["peak"])
        assert np.array_equal(sources["labelled"], sources["snr"] >= 5.0)
        faint += int((sources["snr"] < 5.0).sum())
    assert faint > 0


def test_a_sparse_target_still_gets_one_labelled_source_per_hundred_beams(target):
    # Five islands on 128 x 128 pixels are sparser than 1 per 100 beams of FWHM 3 px
    # (a beam is pi / (4 ln 2) 3^2 = 10.2 px^2), so the default follows the floor: on
    # 32 x 32 fields with every source above S/N 5, a Poisson mean of 1024 / 1019.7.
    beams = math.pi / (4 * math.log(2)) * BEAM ** 2
    assert 5 / SIZE ** 2 < 0.01 / beams
    fields = simulate_like(target, 400, shape=32, snr=(6.0, 20.0), seed=8)
    counts = np.array([int(sources["labelled"].sum()) for _, sources in fields])
    expected = 0.01 * 32 ** 2 / beams
    assert counts.mean() == pytest.approx(expected, abs=4 * math.sqrt(expected / 400))


def test_written_boxes_are_the_sources_at_or_above_label_snr(target, tmp_path):
    options = {"shape": 32, "snr": (2.0, 20.0), "n_sources": (4, 8), "label_snr": 6.0}
    path = write_simulated_like(tmp_path, target, 5, seed=5, **options)
    fields = simulate_like(target, 5, seed=5, **options)
    coco = json.loads(path.read_text())
    for image_id, (image, sources) in enumerate(fields, start=1):
        boxes = [a["bbox"] for a in coco["annotations"] if a["image_id"] == image_id]
        bright = sources[sources["snr"] >= 6.0]
        assert len(boxes) == len(bright)
        assert np.allclose(boxes, np.stack([bright["x0"], bright["y0"], bright["x1"] - bright["x0"],
                                            bright["y1"] - bright["y0"]], -1).reshape(-1, 4))
        written = fits.getheader(tmp_path / coco["images"][image_id - 1]["file_name"])
        assert written["BMAJ"] == pytest.approx(BEAM * SCALE)
        assert np.allclose(fits.getdata(tmp_path / coco["images"][image_id - 1]["file_name"]),
                           image.data)


def test_turned_fields_turn_the_beam_and_the_wcs(tmp_path):
    hdr = header(bmaj=4.0 * SCALE, bmin=2.0 * SCALE, bpa=90.0)   # major axis along x
    data = BKG + pure_noise(seed=2)
    image = AstroImage(data.astype(np.float32), wcs=WCS(hdr), header=hdr)
    fields = simulate_like(image, 40, shape=32, n_sources=0, seed=6)   # > 16 tiles
    turns = [s.meta["turn"] for _, s in fields]
    assert any(t[0] for t in turns) and not all(t[0] for t in turns)
    for field, sources in fields:
        transpose, flip_x, flip_y = sources.meta["turn"]
        x0, y0 = sources.meta["origin"]
        window = data[y0:y0 + 32, x0:x0 + 32]
        window = window.T if transpose else window
        window = window[::-1 if flip_y else 1, ::-1 if flip_x else 1]
        assert np.mean(field.data == window.astype(np.float32)) > 0.5
        assert sources.meta["beam"][2] == pytest.approx(np.pi / 2 if transpose else 0.0,
                                                        abs=1e-9)
        assert (field.header["BMAJ"], field.header["BMIN"]) == pytest.approx(
            (4.0 * SCALE, 2.0 * SCALE))
        assert field.header["BPA"] == pytest.approx(90.0)
        # The field's centre is on the sky where the patch's centre is on the target.
        centre = field.wcs.pixel_to_world(15.5, 15.5)
        assert centre.separation(image.wcs.pixel_to_world(x0 + 15.5, y0 + 15.5)).arcsec < 0.01
        # And a pixel off the centre along the patch's +x lands where the turn sends it.
        step = np.diag([-1 if flip_x else 1, -1 if flip_y else 1]) @ (
            [[0, 1], [1, 0]] if transpose else np.eye(2)) @ [1.0, 0.0]
        moved = field.wcs.pixel_to_world(15.5 + step[0], 15.5 + step[1])
        assert moved.separation(image.wcs.pixel_to_world(x0 + 16.5, y0 + 15.5)).arcsec < 0.01


@pytest.mark.parametrize(("options", "name"), [
    ({"shape": 256}, "shape"),
    ({"n": -1}, "n="),
    ({"max_masked": 1.5}, "max_masked"),
    ({"label_snr": -1.0}, "label_snr"),
    ({"snr": (0.0, 10.0)}, "snr"),
    ({"n_sources": (5, 2)}, "n_sources"),
    ({"beam_fwhm": -2.0}, "beam_fwhm"),
    ({"box_size": 1}, "box_size"),
    ({"compound_fraction": -0.1}, "compound_fraction"),
])
def test_bad_options_raise_before_any_compute(target, monkeypatch, options, name):
    import photutils.background

    def no_compute(*args, **kwargs):
        raise AssertionError("measured before the options were checked")

    monkeypatch.setattr(photutils.background, "Background2D", no_compute)
    options = {"n": 2, **options}
    with pytest.raises(ConfigError, match=name):
        simulate_like(target, options.pop("n"), **options)


def test_a_header_without_beam_needs_beam_fwhm():
    with pytest.raises(ConfigError, match="beam_fwhm"):
        simulate_like(AstroImage(pure_noise()), 2, shape=32)
    fields = simulate_like(AstroImage(pure_noise()), 2, shape=32, beam_fwhm=BEAM, seed=0)
    assert fields[0][1].meta["beam"] == pytest.approx((BEAM, BEAM, 0.0))
    assert fields[0][0].header is None


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data (Abell 2255 WSRT image) absent")
def test_abell2255_beam_and_rms_are_plausible():
    image = DATA / "tbdsf_process_image.in_fits.pybdsf.ch0_I.fits"
    stats = measure_target(image)
    # Header: BMAJ = BMIN = 0.015 deg on 0.005859375 deg pixels.
    assert stats.beam[:2] == pytest.approx((0.015 / 0.005859375,) * 2, rel=1e-4)
    catalogue = Table.read(DATA / "tbdsf_process_image.in_fits.pybdsf.srl.FITS")
    assert np.median(stats.rms) == pytest.approx(np.median(catalogue["Isl_rms"]), rel=0.25)
    fields = simulate_like(image, 4, shape=48, seed=0)
    for field, sources in fields:
        assert np.isfinite(field.data).all()
        assert field.header["BMAJ"] == pytest.approx(0.015)
        assert np.array_equal(sources["labelled"], sources["snr"] >= 5.0)


def test_an_image_without_valid_pixels_is_refused_by_name():
    from astrofm.detect import segmentation_catalog
    from astrofm.errors import ImageValueError

    blank = AstroImage(np.full((64, 64), np.nan, np.float32), source="blank.fits")
    for measure in (lambda: measure_target(blank, beam_fwhm=3.0),
                    lambda: simulate_like(blank, 2, beam_fwhm=3.0),
                    lambda: segmentation_catalog(blank, beam_fwhm=3.0)):
        with pytest.raises(ImageValueError, match="blank.fits: no valid pixel"):
            measure()


def test_writing_into_a_file_is_refused_before_any_field_is_drawn(tmp_path, monkeypatch):
    import sys

    module = sys.modules["astrofm.detect.simulate_like"]  # the package's name is the function
    not_a_folder = tmp_path / "fields"
    not_a_folder.write_text("a file")
    monkeypatch.setattr(module, "simulate_like", lambda *a, **k: pytest.fail("drew fields"))
    target = AstroImage(np.zeros((64, 64), np.float32))
    with pytest.raises(ConfigError, match="folder="):
        write_simulated_like(not_a_folder, target, 2, beam_fwhm=3.0)
    with pytest.raises(ConfigError, match="folder="):
        write_simulated(not_a_folder, 2)
    assert list(tmp_path.iterdir()) == [not_a_folder]
