"""Fixtures of the detection tests: tiny detectors and generated fields, no network."""

import numpy as np
import pytest

#: A two-block ViT with 48-dimensional tokens: the smallest DINOv2 that builds a pyramid.
TINY_VIT = {"depth": 2, "embed_dim": 48, "num_heads": 3}
#: Network settings that keep a step on a 64 px field well under a second.
TINY_NET = {"out_channels": 16, "representation_size": 32, "rpn_batch_size_per_image": 32,
            "box_batch_size_per_image": 32, "rpn_pre_nms_top_n_train": 200,
            "rpn_post_nms_top_n_train": 100, "rpn_pre_nms_top_n_test": 200,
            "rpn_post_nms_top_n_test": 100}


def tiny_detector(model="dinov2-small", tuning="frozen", **options):
    """A detector built at once (fixed scale and anchors) on a tiny backbone."""
    from astrofm.detect import Detector

    options = {"input_scale": 1.0, "anchor_sizes": (8.0, 12.0, 18.0), **TINY_NET, **options}
    if model == "dinov2-small":
        options.setdefault("backbone_options", TINY_VIT)
    if isinstance(model, str):
        options.setdefault("weights", None)
    return Detector(model, tuning, **options)


def fake_network(det, boxes, scores):
    """Make ``det`` find ``boxes`` (whole-image pixels) with ``scores``, tile by tile."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float)

    def predict(images):
        out = []
        for tile in images:
            x0, y0 = tile.geometry.offset
            cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
            on = (cx >= x0) & (cx < x0 + tile.width) & (cy >= y0) & (cy < y0 + tile.height)
            out.append((boxes[on], scores[on], np.ones(on.sum(), dtype=int)))
        return out

    det._predict = predict
    return det


@pytest.fixture(scope="session")
def fields(tmp_path_factory):
    """Six generated 64 px fields with their COCO JSON (a few sources each)."""
    from astrofm.detect import write_simulated

    folder = tmp_path_factory.mktemp("fields")
    return write_simulated(folder, 6, seed=3, shape=64, n_sources=(2, 5), beam_fwhm=2.5,
                           snr=(20.0, 200.0))


@pytest.fixture
def wcs():
    """A TAN WCS with RA increasing to the left, 10 arcsec pixels, slightly rotated."""
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [40.0, 30.0]
    angle = np.deg2rad(20.0)
    scale = 10.0 / 3600
    w.wcs.cd = scale * np.array([[-np.cos(angle), np.sin(angle)],
                                 [np.sin(angle), np.cos(angle)]])
    w.wcs.set()
    return w
