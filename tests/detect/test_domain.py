"""Training-field statistics, and the warning for images far outside them."""

import json
import re
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.modeling.models import Gaussian2D
from astropy.wcs import WCS

import astrofm
from astrofm.detect.catalog import write_coco
from astrofm.detect.domain import training_statistics
from astrofm.errors import DomainWarning

from .conftest import fake_network, tiny_detector

SCALE = 2.0 / 3600  # degrees per pixel


def _write(path, *, dynamic_range, beam=2.5, noise=0.01, shape=64, seed=0):
    """A FITS field of white noise with one source ``dynamic_range`` times the noise at
    the centre of pixel (32, 32), and a header beam of ``beam`` pixels (None: no beam)."""
    yy, xx = np.mgrid[0:shape, 0:shape]
    data = np.random.default_rng(seed).normal(0.0, noise, size=(shape, shape))
    data += Gaussian2D(dynamic_range * noise, 32, 32, 1.5, 1.5)(xx, yy)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval, wcs.wcs.crpix = [258.2, 64.06], [32.0, 32.0]
    wcs.wcs.cdelt = [-SCALE, SCALE]
    header = wcs.to_header()
    if beam is not None:
        header["BMAJ"], header["BMIN"], header["BPA"] = beam * SCALE, beam * SCALE, 0.0
    fits.PrimaryHDU(data.astype(np.float32), header=header).writeto(path)
    return path


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    """Three training fields, dynamic ranges 20, 50 and 80, beam 2.5 px: their COCO JSON."""
    folder = tmp_path_factory.mktemp("train")
    entries = []
    for i, dynamic_range in enumerate((20, 50, 80)):
        _write(folder / f"f{i}.fits", dynamic_range=dynamic_range, seed=i)
        entries.append({"file_name": f"f{i}.fits", "width": 64, "height": 64,
                        "boxes": np.array([[29.0, 29, 36, 36]]), "labels": [1]})
    return write_coco(folder / "train.json", entries, classes=["source"])


def test_training_statistics_are_those_put_in(training):
    stats = training_statistics(training)
    assert json.loads(json.dumps(stats)) == stats  # saved with the model as JSON
    assert stats["beam"]["median"] == pytest.approx(2.5, rel=1e-6)
    assert stats["beam"]["images"] == 3
    assert stats["rms"]["median"] == pytest.approx(0.01, rel=0.1)
    # The brightest pixel is the source's peak plus noise (1 rms): tolerance of 3 rms.
    ranges = stats["dynamic_range"]
    for key, expected in zip(("low", "median", "high"), np.percentile([20, 50, 80], [5, 50, 95]),
                             strict=True):
        assert ranges[key] == pytest.approx(expected, abs=3)


def _domain_warnings(det, path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        det.detect(path, tile=None, min_snr=None, progress=False)
    return [str(w.message) for w in caught if issubclass(w.category, DomainWarning)]


@pytest.fixture(scope="module")
def detector(training):
    det = fake_network(tiny_detector(), np.zeros((0, 4)), np.zeros(0))
    det.history = {"fields": training_statistics(training)}
    return det


def test_an_image_like_the_training_fields_raises_no_warning(detector, tmp_path):
    assert _domain_warnings(detector, _write(tmp_path / "like.fits", dynamic_range=40)) == []


def test_a_beam_four_times_the_training_beam_warns_naming_all(detector, tmp_path):
    path = _write(tmp_path / "wide.fits", dynamic_range=40, beam=10.0)
    (message,) = _domain_warnings(detector, path)
    assert str(path) in message and _problems(message) == {"beam": "10"}
    assert "2.5 to 2.5" in message and "train it on fields matched to this survey" in message


def _problems(message):
    """The statistics a warning names, with their values."""
    return dict(re.findall(r"(beam|dynamic range) ([0-9.e+]+) is more than", message))


def test_a_far_dynamic_range_warns_and_with_the_beam_once(detector, tmp_path):
    (message,) = _domain_warnings(detector, _write(tmp_path / "b.fits", dynamic_range=3000))
    problems = _problems(message)
    assert list(problems) == ["dynamic range"]
    assert float(problems["dynamic range"]) == pytest.approx(3000, rel=0.05)
    path = _write(tmp_path / "bright.fits", dynamic_range=3000, beam=10.0)
    (message,) = _domain_warnings(detector, path)  # one warning for the image
    assert sorted(_problems(message)) == ["beam", "dynamic range"]


def test_an_image_without_a_beam_is_checked_on_its_dynamic_range_alone(detector, tmp_path):
    assert _domain_warnings(detector, _write(tmp_path / "nb.fits", dynamic_range=40,
                                             beam=None)) == []


def test_fit_records_the_training_fields_and_saving_keeps_them(training, tmp_path):
    det = tiny_detector()
    det.fit(training, training, epochs=1, max_steps=1, progress=False)
    assert det.history["fields"] == training_statistics(training)
    again = astrofm.load(det.save(tmp_path / "d.astrofm"))
    assert again.history["fields"] == det.history["fields"]


def test_a_detector_saved_without_field_statistics_detects_without_warning(tmp_path):
    path = tiny_detector().save(tmp_path / "old.astrofm")  # history as saved before
    old = fake_network(astrofm.load(path), np.zeros((0, 4)), np.zeros(0))
    assert "fields" not in old.history
    wide = _write(tmp_path / "wide.fits", dynamic_range=3000, beam=10.0)
    assert _domain_warnings(old, wide) == []
