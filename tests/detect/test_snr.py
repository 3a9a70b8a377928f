"""Peak S/N of detections: measured against the local rms, and the min_snr cut."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.modeling.models import Gaussian2D

from astrofm.cli import main
from astrofm.detect.catalog import write_coco
from astrofm.detect.snr import PeakSNR, background_box, one_per_peak
from astrofm.errors import ConfigError
from astrofm.geometry import Geometry
from astrofm.image import AstroImage

from .conftest import fake_network, tiny_detector

NOISE, LEVEL = 0.5, 3.0  # rms and constant background of the test images
SIGMA = 2.0  # source width, pixels


def _field(shape, sources, seed=0):
    """White noise of rms NOISE on a LEVEL background, plus Gaussians at (x, y, peak).

    Positions are 0-based pixel centres, so each source peaks on one pixel.
    """
    h, w = shape
    data = np.random.default_rng(seed).normal(LEVEL, NOISE, size=shape)
    yy, xx = np.mgrid[0:h, 0:w]
    for x, y, peak in sources:
        data += Gaussian2D(peak, x, y, SIGMA, SIGMA)(xx, yy)
    return data.astype(np.float32)


def _box(x, y, half=6):
    """An edge-convention box around the pixel centred at 0-based (x, y)."""
    return [x + 0.5 - half, y + 0.5 - half, x + 0.5 + half, y + 0.5 + half]


def test_peak_snr_of_a_gaussian_source_is_what_was_injected_and_what_photutils_measures():
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MADStdBackgroundRMS, MedianBackground

    data = _field((96, 96), [(40, 50, 10 * NOISE)])
    box = _box(40, 50)
    out = PeakSNR(largest=12)(AstroImage(data), np.array([box]))
    # Injected: peak 5 (S/N 10) above the background; the brightest pixel of a box may
    # be a neighbour of the centre (0.88 of the peak one pixel away) lifted by noise.
    assert out["peak"][0] == pytest.approx(10 * NOISE, abs=3 * NOISE)
    assert out["rms"][0] == pytest.approx(NOISE, rel=0.1)
    assert out["snr"][0] == pytest.approx(10, abs=3)
    # photutils on the same image, with the same box, gives the same numbers.
    found = Background2D(data, background_box(12, data.shape), sigma_clip=SigmaClip(sigma=3.0),
                         bkg_estimator=MedianBackground(),
                         bkg_rms_estimator=MADStdBackgroundRMS())
    inside = (data - found.background)[44:57, 34:47]  # the pixels the box overlaps
    r, c = np.unravel_index(np.argmax(inside), inside.shape)
    assert out["peak"][0] == pytest.approx(inside[r, c], rel=1e-5)
    assert out["rms"][0] == pytest.approx(found.background_rms[44 + r, 34 + c], rel=1e-5)


def test_a_tile_measures_in_whole_image_pixels_and_a_blank_box_gets_nan():
    data = _field((64, 64), [(20, 30, 20 * NOISE)])
    data[:, 48:] = np.nan
    tile = AstroImage(data, geometry=Geometry.crop(100, 200))
    boxes = np.array([np.add(_box(20, 30), [100, 200, 100, 200]),
                      [150.0, 210.0, 160.0, 220.0]])  # entirely on the NaN columns
    out = PeakSNR(largest=8)(tile, boxes)
    assert out["snr"][0] == pytest.approx(20, abs=4)
    assert np.isnan(out["peak"][1]) and np.isnan(out["snr"][1])


def test_the_peak_position_is_in_whole_image_pixels():
    data = _field((64, 64), [(20, 30, 40 * NOISE)])
    out = PeakSNR(largest=8)(AstroImage(data, geometry=Geometry.crop(100, 200)),
                             np.array([np.add(_box(20, 30), [100, 200, 100, 200])]))
    # At S/N 40 the peak pixel is the centre pixel: its neighbours are at 0.88 of it.
    assert (out["peak_x"][0], out["peak_y"][0]) == (120, 230)


def test_each_peak_keeps_its_best_detection_whatever_the_overlap():
    data = _field((96, 96), [(30, 30, 40 * NOISE), (60, 62, 30 * NOISE)])
    boxes = np.array([_box(30, 30, half=3),     # the compact source's own box
                      _box(30, 30, half=9),     # a larger box around it: IoU 1/9
                      _box(60, 62, half=4),     # the second source
                      [40.0, 50.0, 44.0, 54.0],  # noise, between them
                      _box(31, 29, half=5)])    # a shifted box on the first source
    scores = np.array([0.6, 0.9, 0.8, 0.3, 0.5])
    measured = PeakSNR(largest=12)(AstroImage(data), boxes)
    measured["peak_x"][3] = np.nan  # as for a box on blank pixels: never dropped
    # Boxes 0, 1 and 4 share the first source's peak: the best scored (1) stays.
    assert one_per_peak(scores, measured).tolist() == [1, 2, 3]
    assert one_per_peak(scores, {}).tolist() == [0, 1, 2, 3, 4]  # no peaks measured


def test_background_box_spans_four_sources_within_the_tile():
    assert background_box(10.0, (500, 500)) == (40, 40)
    assert background_box(2.0, (500, 500)) == (16, 16)  # never under 16 px
    assert background_box(30.0, (64, 100)) == (64, 100)  # never over the tile


# Sources at 0-based (x, y) with peak S/N 40 and 8, and a box on noise alone.
BRIGHT, FAINT, EMPTY = (30, 30, 40 * NOISE), (90, 95, 8 * NOISE), (100, 20)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("snr") / "field.fits"
    fits.PrimaryHDU(_field((128, 128), [BRIGHT, FAINT], seed=4)).writeto(path)
    return path


BOXES = [_box(*BRIGHT[:2]), _box(*FAINT[:2]), _box(*EMPTY, half=3)]


@pytest.mark.parametrize("tile", [None, 64])
def test_min_snr_keeps_the_sources_above_it_and_records_it(image, tile):
    det = fake_network(tiny_detector(), BOXES, [0.9, 0.8, 0.7])
    options = {"tile": tile, "overlap": 16, "score_threshold": 0.5, "progress": False,
               "fit_boxes": False}
    table = det.detect(image, **options)  # default min_snr = 5
    assert list(table["x"]) == pytest.approx([30.5, 90.5])
    assert table["snr"] == pytest.approx([40, 8], abs=3)
    assert table["rms"] == pytest.approx([NOISE, NOISE], rel=0.15)
    assert table.meta["min_snr"] == pytest.approx(5.0)
    assert len(det.detect(image, min_snr=12, **options)) == 1
    everything = det.detect(image, min_snr=None, **options)
    assert len(everything) == 3 and "snr" not in everything.colnames
    assert everything.meta["min_snr"] is None


def test_a_detection_needs_both_the_score_and_the_snr(image):
    det = fake_network(tiny_detector(), BOXES, [0.3, 0.8, 0.9])
    table = det.detect(image, tile=None, score_threshold=0.5, min_snr=5, progress=False,
                       fit_boxes=False)
    # The bright source scores too low, the noise box has too low an S/N.
    assert list(table["x"]) == pytest.approx([90.5])


def test_evaluate_scores_the_catalogue_after_the_snr_cut(image, tmp_path):
    coco = write_coco(tmp_path / "test.json", [
        {"file_name": str(image), "width": 128, "height": 128,
         "boxes": np.array(BOXES[:2]), "labels": [1, 1]}], classes=["source"])
    det = fake_network(tiny_detector(), BOXES, [0.9, 0.8, 0.95])
    ranked = det.evaluate(coco)  # the noise box, ranked first, is a false positive
    cut = det.evaluate(coco, min_snr=5)
    assert ranked.precision == pytest.approx(2 / 3) and ranked.map_50 < 1
    assert cut.precision == pytest.approx(1.0) and cut.map_50 == pytest.approx(1.0)


@pytest.mark.parametrize("value", [-1, "many", float("nan")])
def test_a_bad_min_snr_is_refused(value):
    det = tiny_detector()
    with pytest.raises(ConfigError, match="min_snr"):
        det.detect(np.zeros((64, 64)), min_snr=value)
    with pytest.raises(ConfigError, match="min_snr"):
        det.evaluate("never-read.json", min_snr=value)


@pytest.mark.parametrize("value", ["-1", "five"])
def test_command_line_refuses_a_bad_min_snr_in_one_line(value, tmp_path, monkeypatch, capsys):
    import astrofm.cli.detect

    def never(*args, **kwargs):
        raise AssertionError("the detector was loaded before the options were checked")

    monkeypatch.setattr(astrofm.cli.detect, "load_saved", never)
    code = main(["detect", str(tmp_path / "m.astrofm"), str(tmp_path / "f.fits"), "-o",
                 str(tmp_path / "c.ecsv"), "--min-snr", value, "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("astrofm: error:") and err.count("\n") == 1
    assert "--min-snr" in err


def test_command_line_min_snr(image, tmp_path, monkeypatch, capsys):
    import astrofm.cli.detect

    det = fake_network(tiny_detector(), BOXES, [0.9, 0.8, 0.7])
    monkeypatch.setattr(astrofm.cli.detect, "load_saved", lambda *args: det)
    out = tmp_path / "c.ecsv"
    for value, said in (("12", "1 sources (score >= 0.5, S/N >= 12)"),
                        ("none", "3 sources (score >= 0.5) in")):
        assert main(["detect", "m.astrofm", str(image), "-o", str(out), "--min-snr", value,
                     "--tile", "whole", "-q"]) == 0
        assert said in capsys.readouterr().out


def test_snr_of_a_real_catalogue_agrees_with_pybdsf(shared_data):
    """Abell 2255: on PyBDSF's own source boxes, peak and rms agree with its Peak_flux and
    Isl_rms (its rms map uses other boxes, so to 15 % in the median)."""
    from astropy.table import Table

    import astrofm
    from astrofm.detect import catalog_to_boxes

    folder = shared_data / "pybdsf_wsrt_abell2255"
    image = astrofm.load(folder / "tbdsf_process_image.in_fits.pybdsf.ch0_I.fits")
    catalog = Table.read(folder / "tbdsf_process_image.in_fits.pybdsf.srl.FITS")
    boxes, keep = catalog_to_boxes(catalog, image.wcs, image.shape)
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    out = PeakSNR(largest=sides.max())(image, boxes)
    catalog = catalog[keep]
    assert np.median(out["peak"] / catalog["Peak_flux"]) == pytest.approx(1, abs=0.15)
    assert np.median(out["rms"] / catalog["Isl_rms"]) == pytest.approx(1, abs=0.15)
    # PyBDSF kept islands with a 5 sigma peak: nearly all pass a 5 sigma cut here too.
    assert np.mean(out["snr"] >= 5) >= 0.9
