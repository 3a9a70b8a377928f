"""Catalogues: pixel to sky to pixel, catalogue ellipses to boxes, writers that read back."""

import json

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table

from astrofm.data import CocoDataset
from astrofm.detect.catalog import (
    catalog_to_boxes,
    ellipse_boxes,
    make_catalog,
    write_catalog,
    write_coco,
)
from astrofm.errors import BoxError, ConfigError, DatasetError

BOXES = np.array([[10.0, 12.5, 20.0, 18.5], [40.25, 3.0, 44.75, 9.0], [0.0, 50.0, 7.5, 60.0]])


def _catalog(wcs=None):
    return make_catalog(BOXES, [0.7, 0.9, 0.8], [1, 2, 1], ["point", "extended"], wcs=wcs,
                        source="field.fits", meta={"shape": [64, 80]})


def test_pixel_to_sky_to_pixel_round_trip(wcs):
    table = _catalog(wcs)
    assert list(table["score"]) == [0.9, 0.8, 0.7]
    assert list(table["class_name"]) == ["extended", "point", "point"]
    sky = SkyCoord(table["ra"], table["dec"], frame="icrs")
    x, y = wcs.world_to_pixel(sky)
    np.testing.assert_allclose(np.asarray(x) + 0.5, table["x"].value, atol=1e-8)
    np.testing.assert_allclose(np.asarray(y) + 0.5, table["y"].value, atol=1e-8)


def test_sky_ellipses_become_the_pixel_boxes(wcs):
    """A catalogue written from known pixel ellipses gives back their boxes."""
    x, y = np.array([30.5, 52.0, 10.0]), np.array([20.0, 40.0, 55.5])
    major, minor = np.array([6.0, 4.0, 9.0]), np.array([3.0, 4.0, 2.0])
    theta = np.deg2rad([30.0, 0.0, 100.0])  # from +x towards +y
    centre = wcs.pixel_to_world(x - 0.5, y - 0.5)
    tip = wcs.pixel_to_world(x - 0.5 + np.cos(theta), y - 0.5 + np.sin(theta))
    pix = 10.0 / 3600  # degrees per pixel
    catalog = Table({"RA": centre.ra.deg, "DEC": centre.dec.deg, "Maj": major * pix * u.deg,
                     "Min": minor * pix * u.deg, "PA": centre.position_angle(tip).deg})
    boxes, keep = catalog_to_boxes(catalog, wcs, (64, 80), fwhm_scale=1.0)
    assert keep.all()
    np.testing.assert_allclose(boxes, ellipse_boxes(x, y, major, minor, theta, fwhm_scale=1.0),
                               atol=1e-3)
    wide, _ = catalog_to_boxes(catalog, wcs, (64, 80))
    np.testing.assert_allclose(wide[1], [48.0, 36.0, 56.0, 44.0], atol=1e-3)  # 2 x FWHM


def test_boxes_are_clipped_and_outside_centres_dropped(wcs):
    centre = wcs.pixel_to_world([1.0, 200.0], [30.0, 30.0])
    catalog = Table({"RA": centre.ra.deg, "DEC": centre.dec.deg, "Maj": [0.01, 0.01],
                     "Min": [0.01, 0.01], "PA": [0.0, 0.0]})
    boxes, keep = catalog_to_boxes(catalog, wcs, (64, 80))
    assert keep.tolist() == [True, False] and boxes[0, 0] == 0.0
    with pytest.raises(DatasetError, match="major='FWHM'"):
        catalog_to_boxes(catalog, wcs, (64, 80), major="FWHM")
    with pytest.raises(ConfigError, match="wcs=None"):
        catalog_to_boxes(catalog, None, (64, 80))


def test_real_catalogue_matches_its_published_boxes(shared_data):
    """PyBDSF's Abell 2255 catalogue: FWHM boxes equal srl_boxes_pix.csv (0-based centres)."""
    import astrofm

    folder = shared_data / "pybdsf_wsrt_abell2255"
    image = astrofm.load(folder / "tbdsf_process_image.in_fits.pybdsf.ch0_I.fits")
    catalog = Table.read(folder / "tbdsf_process_image.in_fits.pybdsf.srl.FITS")
    boxes, keep = catalog_to_boxes(catalog, image.wcs, image.shape, fwhm_scale=1.0)
    ref = Table.read(folder / "srl_boxes_pix.csv")
    expected = np.stack([ref[c] for c in ("x_min", "y_min", "x_max", "y_max")], -1) + 0.5
    expected = expected.clip(0, 129)
    assert keep.all()
    np.testing.assert_allclose(boxes, expected, atol=0.02)  # the CSV is rounded to 0.01 px


def test_generated_pybdsf_catalogue_gives_boxes_worked_out_by_hand(tmp_path):
    """The convention of the real-catalogue test on a catalogue written here: a PyBDSF-like
    .srl FITS table (RA, DEC, FWHM Maj/Min in degrees, PA east of north) of sources at
    known 0-based pixel centres, on a north-up, east-left image of 10 arcsec pixels."""
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval, w.wcs.crpix = [150.0, 2.0], [40.0, 30.0]
    w.wcs.cdelt = [-10.0 / 3600, 10.0 / 3600]
    x, y = np.array([20.0, 50.3, 10.0]), np.array([15.0, 40.7, 50.0])
    fwhm_major, fwhm_minor = np.array([6.0, 4.0, 9.0]), np.array([3.0, 4.0, 2.0])
    pa = np.array([30.0, 0.0, 100.0])
    sky = w.pixel_to_world(x, y)
    srl = Table({"RA": sky.ra.deg * u.deg, "DEC": sky.dec.deg * u.deg,
                 "Maj": fwhm_major * 10 / 3600 * u.deg, "Min": fwhm_minor * 10 / 3600 * u.deg,
                 "PA": pa * u.deg})
    srl.write(tmp_path / "field.pybdsf.srl.FITS")
    boxes, keep = catalog_to_boxes(str(tmp_path / "field.pybdsf.srl.FITS"), w, (64, 80),
                                   fwhm_scale=1.0)
    # PA 0 points north (+y) and PA 90 east (-x): the major axis lies at 90 + PA degrees
    # from +x. An ellipse of semi-axes a, b at angle t spans half-widths
    # sqrt(a^2 cos^2 t + b^2 sin^2 t) and sqrt(a^2 sin^2 t + b^2 cos^2 t).
    t = np.deg2rad(90 + pa)
    a, b = fwhm_major / 2, fwhm_minor / 2
    hw = np.sqrt((a * np.cos(t)) ** 2 + (b * np.sin(t)) ** 2)
    hh = np.sqrt((a * np.sin(t)) ** 2 + (b * np.cos(t)) ** 2)
    cx, cy = x + 0.5, y + 0.5  # 0-based pixel centres to the edge convention
    assert keep.all()
    np.testing.assert_allclose(boxes, np.stack([cx - hw, cy - hh, cx + hw, cy + hh], -1),
                               atol=1e-3)
    np.testing.assert_allclose(boxes[1], [48.8, 39.2, 52.8, 43.2], atol=1e-3)  # a circle


def test_writers_read_back(tmp_path, wcs):
    from regions import Regions

    table = _catalog(wcs)
    for suffix in (".ecsv", ".fits"):
        back = Table.read(write_catalog(table, tmp_path / f"cat{suffix}"))
        np.testing.assert_allclose(back["ra"], table["ra"])
        assert list(back["class_name"]) == list(table["class_name"])
    regions = Regions.read(write_catalog(table, tmp_path / "cat.reg"), format="ds9")
    assert len(regions) == 3 and hasattr(regions[0], "to_pixel")
    centre = regions[0].to_pixel(wcs).center
    assert abs(centre.x + 0.5 - table["x"][0]) < 1e-6
    coco = json.loads(write_catalog(table, tmp_path / "cat.json").read_text())
    assert coco["images"][0]["width"] == 80 and len(coco["annotations"]) == 3
    with pytest.raises(ConfigError, match="cat.txt"):
        write_catalog(table, tmp_path / "cat.txt")


def test_coco_written_is_coco_read(tmp_path):
    from astropy.io import fits

    fits.PrimaryHDU(np.zeros((64, 80), dtype=np.float32)).writeto(tmp_path / "a.fits")
    path = write_coco(tmp_path / "a.json", [{"file_name": "a.fits", "width": 80, "height": 64,
                                             "boxes": BOXES, "labels": [1, 2, 1]}],
                      classes=["point", "extended"])
    data = CocoDataset(path)
    boxes, labels = data.boxes(0)
    np.testing.assert_allclose(boxes, BOXES)
    assert labels.tolist() == [1, 2, 1] and data.classes == ["point", "extended"]
    with pytest.raises(BoxError, match="zero area"):
        write_coco(tmp_path / "b.json", [{"file_name": "a.fits", "width": 80, "height": 64,
                                          "boxes": [[1.0, 1, 1, 5]]}], classes=["source"])
