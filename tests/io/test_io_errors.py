"""Bad input: each case gives an astrofm error whose message names the file or argument."""

import gzip

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

import astrofm
from astrofm.errors import (
    FileFormatError,
    ImageShapeError,
    ImageValueError,
    InputFileError,
    NoImageDataError,
)


def test_missing_path(tmp_path):
    path = tmp_path / "nowhere" / "missing.fits"
    with pytest.raises(InputFileError, match=r"missing\.fits: no such file"):
        astrofm.load(path)
    with pytest.raises(FileNotFoundError):  # also catchable as the built-in
        astrofm.load(str(path))


def test_directory(tmp_path):
    with pytest.raises(InputFileError, match="is a directory"):
        astrofm.load(tmp_path)


def test_neither_fits_nor_image(tmp_path):
    path = tmp_path / "notes.fits"
    path.write_text("these are not pixels\n" * 10)
    with pytest.raises(FileFormatError, match=r"notes\.fits: neither a FITS file nor an image"):
        astrofm.load(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.fits"
    path.write_bytes(b"")
    with pytest.raises(FileFormatError, match=r"empty\.fits: the file is empty"):
        astrofm.load(path)


def test_gzip_that_is_not_fits(tmp_path):
    path = tmp_path / "text.fits.gz"
    path.write_bytes(gzip.compress(b"hello " * 1000))
    with pytest.raises(FileFormatError, match=r"text\.fits\.gz: not a readable FITS file"):
        astrofm.load(path)


@pytest.fixture
def full_fits(tmp_path):
    """A 100x100 float32 FITS: a 2880-byte header, 40000 data bytes, 320 bytes padding."""
    path = tmp_path / "full.fits"
    fits.PrimaryHDU(np.random.default_rng(0).random((100, 100)).astype(np.float32)).writeto(path)
    assert path.stat().st_size == 2880 + 40320
    return path


@pytest.mark.parametrize("keep", [100, 2880, 2880 + 1000, 2880 + 39000, 2880 + 39999])
def test_truncated_fits(tmp_path, full_fits, keep):
    path = tmp_path / "cut.fits"
    path.write_bytes(full_fits.read_bytes()[:keep])
    with pytest.raises(FileFormatError, match=r"cut\.fits: .*(truncated)"):
        astrofm.load(path)


def test_fits_missing_only_its_padding_loads(tmp_path, full_fits):
    path = tmp_path / "unpadded.fits"
    path.write_bytes(full_fits.read_bytes()[: 2880 + 40000])
    image = astrofm.load(path)
    np.testing.assert_array_equal(image.data, fits.getdata(full_fits))


def test_truncated_compressed_fits(tmp_path):
    data = np.random.default_rng(0).integers(0, 30000, (128, 128)).astype(np.int16)
    full = tmp_path / "full.fits.fz"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data)]).writeto(full)
    raw = full.read_bytes()
    path = tmp_path / "cut.fits.fz"
    path.write_bytes(raw[: len(raw) - 4000])
    with pytest.raises(FileFormatError, match=r"cut\.fits\.fz: .*truncated"):
        astrofm.load(path)


def test_truncated_gzip_fits(tmp_path, full_fits):
    packed = gzip.compress(full_fits.read_bytes())
    path = tmp_path / "cut.fits.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(FileFormatError, match=r"cut\.fits\.gz: .*(truncated|corrupt)"):
        astrofm.load(path)


def test_truncated_png(tmp_path):
    full = tmp_path / "full.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(full)
    path = tmp_path / "cut.png"
    path.write_bytes(full.read_bytes()[:300])
    with pytest.raises(FileFormatError, match=r"cut\.png: .*truncated"):
        astrofm.load(path)


def test_fits_with_only_a_table(tmp_path):
    path = tmp_path / "table.fits"
    table = fits.BinTableHDU.from_columns([fits.Column("flux", "E", array=np.ones(4))])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    with pytest.raises(NoImageDataError, match=r"table\.fits: no HDU holds image data"):
        astrofm.load(path)


def test_fits_with_empty_primary_only(tmp_path):
    path = tmp_path / "empty_primary.fits"
    fits.PrimaryHDU().writeto(path)
    with pytest.raises(NoImageDataError, match=r"empty_primary\.fits.*PRIMARY \(empty\)"):
        astrofm.load(path)
    with pytest.raises(NoImageDataError, match=r"empty_primary\.fits.*HDU 0"):
        astrofm.load(path, hdu=0)


def test_table_hdu_object():
    table = fits.BinTableHDU.from_columns([fits.Column("a", "E", array=np.ones(2))])
    with pytest.raises(NoImageDataError, match="BinTableHDU"):
        astrofm.load(table)


def test_all_nan_fits(tmp_path):
    path = tmp_path / "nan.fits"
    fits.PrimaryHDU(np.full((5, 5), np.nan, np.float32)).writeto(path)
    with pytest.raises(ImageValueError, match=r"nan\.fits: no finite"):
        astrofm.load(path)


def test_zero_pixel_fits(tmp_path):
    path = tmp_path / "zero.fits"
    fits.PrimaryHDU(np.zeros((5, 0), np.float32)).writeto(path)
    with pytest.raises(ImageShapeError, match=r"zero\.fits: the image has 0 pixels"):
        astrofm.load(path)


def test_one_pixel_fits_loads(tmp_path):
    path = tmp_path / "one.fits"
    fits.PrimaryHDU(np.array([[2.5]], np.float32)).writeto(path)
    assert astrofm.load(path).shape == (1, 1)


def test_errors_are_astrofm_errors_and_builtins(tmp_path):
    path = tmp_path / "nan.fits"
    fits.PrimaryHDU(np.full((2, 2), np.nan, np.float32)).writeto(path)
    with pytest.raises(ValueError):
        astrofm.load(path)
    with pytest.raises(astrofm.errors.AstrofmError):
        astrofm.load(path)


#: Words of the list of formats that every "not an image" error carries.
FORMAT_LIST = r"FITS \(.*PNG, JPEG, TIFF.*\.astrofm"


def _safetensors(path, metadata=None):
    import torch
    from safetensors.torch import save_file

    # A 3-float tensor gives a 56-byte JSON header: PIL takes the length for a BMP DIB.
    save_file({"weight": torch.zeros(3)}, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize("name", ["weights.safetensors", "weights.png"])
def test_safetensors_that_is_not_a_model(tmp_path, name):
    # Before: PIL's "OSError: Unsupported BMP pixel depth".
    path = _safetensors(tmp_path / name)
    with pytest.raises(FileFormatError, match=rf"{name}: a safetensors file.*{FORMAT_LIST}.*"
                                              "astrofm.backbones.load"):
        astrofm.load(path)


def test_renamed_saved_model_is_loaded(tmp_path, monkeypatch):
    import astrofm.saving

    path = _safetensors(tmp_path / "model.safetensors", {"format": "astrofm-model"})
    monkeypatch.setattr(astrofm.saving, "load_model", lambda p: ("rebuilt", p))
    assert astrofm.load(path) == ("rebuilt", path)


@pytest.mark.parametrize(("head", "says"), [
    (b"BM", rf"header is invalid .*{FORMAT_LIST}"),
    (b"(\x00\x00\x00", rf"header is invalid .*{FORMAT_LIST}"),
    (b"II*\x00", "the TIFF cannot be read"),
    (b"qoif", "MAX_IMAGE_PIXELS"),
    (b"", rf"neither a FITS file .*{FORMAT_LIST}"),
])
def test_random_bytes_with_an_image_suffix(tmp_path, head, says):
    # Signatures PIL or tifffile recognise, followed by garbage: before, OSError,
    # IndexError or DecompressionBombError escaped.
    path = tmp_path / "noise.png"
    path.write_bytes(head + np.random.default_rng(7).bytes(300))
    with pytest.raises(FileFormatError, match=rf"noise\.png: .*{says}"):
        astrofm.load(path)


def test_numpy_files_and_text(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((4, 4)))
    np.savez(tmp_path / "b.npz", images=np.ones((2, 4, 4)))
    (tmp_path / "c.txt").write_text("ra,dec\n1,2\n")
    for name in ("a.npy", "b.npz"):
        with pytest.raises(FileFormatError, match=rf"{name}: a NumPy array file.*{FORMAT_LIST}"
                                                  ".*numpy.load"):
            astrofm.load(tmp_path / name)
    with pytest.raises(FileFormatError, match=rf"c\.txt: neither a FITS .*{FORMAT_LIST}"):
        astrofm.load(tmp_path / "c.txt")
