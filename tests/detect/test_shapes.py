"""Boxes from Gaussians fitted to the detections' pixels, in the catalogue convention."""

import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.modeling.models import Gaussian2D

from astrofm.detect.catalog import FWHM_SCALE
from astrofm.detect.shapes import gaussian_boxes

from .conftest import fake_network, tiny_detector

FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))
NOISE = 0.05


def _source(shape=(64, 64), x=30.5, y=33.5, major=8.0, minor=4.0, theta=0.0, seed=0):
    """A Gaussian of FWHM axes ``major`` x ``minor`` (pixels) centred at edge-convention
    ``(x, y)``, peak 1, on white noise of rms NOISE."""
    yy, xx = np.mgrid[:shape[0], :shape[1]] + 0.5
    g = Gaussian2D(1.0, x, y, major / FWHM_PER_SIGMA, minor / FWHM_PER_SIGMA, theta)
    return g(xx, yy) + np.random.default_rng(seed).normal(0, NOISE, shape)


def test_a_resolved_source_gets_the_box_of_its_fwhm_whatever_box_found_it():
    data = _source()
    valid = np.ones(data.shape, bool)
    # The network's box is beam-sized (5 x 5 px) on a source 8 x 4 px FWHM: the
    # catalogue's box is k FWHM across, 16 x 8 px, centred on the source.
    expected = [30.5 - 8, 33.5 - 4, 30.5 + 8, 33.5 + 4]
    assert FWHM_SCALE == pytest.approx(2.0)
    got = gaussian_boxes(data, valid, np.array([[28.0, 31.0, 33.0, 36.0]]))
    np.testing.assert_allclose(got[0], expected, atol=0.6)
    # The size is the fit's, the centre the network's: a box 1 px to the right gives
    # the same box 1 px to the right.
    shifted = gaussian_boxes(data, valid, np.array([[29.0, 31.0, 34.0, 36.0]]))
    np.testing.assert_allclose(shifted[0], np.add(expected, [1, 0, 1, 0]), atol=0.6)


def test_a_turned_source_gets_the_box_enclosing_its_ellipse():
    # Major axis 45 degrees from +x: the enclosing box of semi-axes a = 8, b = 4 has
    # half-sides sqrt(a^2 cos^2 + b^2 sin^2) = sqrt(40) in x and in y.
    data = _source(theta=math.pi / 4)
    got = gaussian_boxes(data, np.ones(data.shape, bool), np.array([[27.0, 30.0, 34.0, 37.0]]))
    half = math.sqrt(40)
    np.testing.assert_allclose(got[0], [30.5 - half, 33.5 - half, 30.5 + half, 33.5 + half],
                               atol=0.6)


def test_no_plausible_fit_leaves_a_nan_row_and_unchosen_boxes_are_not_fitted():
    data = _source()
    valid = np.ones(data.shape, bool)
    boxes = np.array([[28.0, 31.0, 33.0, 36.0],
                      [2.0, 2.0, 8.0, 8.0]])   # noise only: the source lies outside
    blank = valid.copy()
    blank[:12, :12] = False
    got = gaussian_boxes(data, blank, boxes)
    assert np.isfinite(got[0]).all() and np.isnan(got[1]).all()  # too few valid pixels
    assert np.isnan(gaussian_boxes(data, valid, boxes, fit=np.array([False, True]))[0]).all()
    # A box 5 px beside the source: the fit finds the source 5 px from the box's centre,
    # more than a quarter of its 5 px side, so it describes another source and is refused.
    assert np.isnan(gaussian_boxes(data, valid, np.array([[33.0, 31.0, 38.0, 36.0]]))).all()


def test_detect_writes_the_fitted_boxes_by_default(tmp_path):
    path = tmp_path / "source.fits"
    fits.PrimaryHDU(_source((96, 96), x=40.5, y=50.5).astype(np.float32)).writeto(path)
    det = fake_network(tiny_detector(), [[38.0, 48.0, 43.0, 53.0]], [0.9])
    fitted = det.detect(path, tile=None, progress=False)
    plain = det.detect(path, tile=None, progress=False, fit_boxes=False)
    assert [fitted["width"][0], fitted["height"][0]] == pytest.approx([16, 8], abs=1.2)
    assert [plain["width"][0], plain["height"][0]] == pytest.approx([5, 5])
    assert fitted.meta["fit_boxes"] and not plain.meta["fit_boxes"]


def test_command_line_network_boxes_keeps_the_network_boxes(tmp_path, monkeypatch, capsys):
    from astropy.table import Table

    import astrofm.cli.detect
    from astrofm.cli import main

    path = tmp_path / "source.fits"
    fits.PrimaryHDU(_source((96, 96), x=40.5, y=50.5).astype(np.float32)).writeto(path)
    det = fake_network(tiny_detector(), [[38.0, 48.0, 43.0, 53.0]], [0.9])
    monkeypatch.setattr(astrofm.cli.detect, "load_saved", lambda *args: det)
    for flag, width in (([], 16), (["--network-boxes"], 5)):
        out = tmp_path / f"c{len(flag)}.ecsv"
        assert main(["detect", "m.astrofm", str(path), "-o", str(out), "--tile", "whole",
                     "-q", *flag]) == 0
        assert Table.read(out)["width"][0] == pytest.approx(width, abs=1.2)
