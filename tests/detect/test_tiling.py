"""Tiles: exact geometry back to the mosaic, one detection per source, blank tiles skipped."""

import numpy as np
import pytest
from astropy.io import fits

from astrofm.detect.tiling import MosaicReader, detect_tiled, tile_windows
from astrofm.image import AstroImage

from .conftest import tiny_detector


@pytest.mark.parametrize("shape, tile, overlap", [((100, 130), 48, 10), ((64, 64), 64, 8),
                                                   ((37, 200), 32, 0)])
def test_windows_cover_and_cores_partition(shape, tile, overlap):
    windows = tile_windows(shape, tile, overlap)
    owners = np.zeros(shape, dtype=int)
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
    for w in windows:
        assert w.y1 - w.y0 == min(tile, shape[0]) and w.x1 - w.x0 == min(tile, shape[1])
        owners += w.owns(xs, ys)
        cy0, cy1, cx0, cx1 = w.core
        assert w.y0 <= cy0 < cy1 <= w.y1 and w.x0 <= cx0 < cx1 <= w.x1
    assert (owners == 1).all()


def test_boxes_map_through_tiling_and_resize_to_exact_original_pixels():
    det = tiny_detector(input_scale=2.5)
    mosaic = np.random.default_rng(0).normal(size=(90, 120)).astype(np.float32)
    reader = MosaicReader(mosaic)
    window = tile_windows(reader.shape, 40, 8)[4]
    tile = reader.read([window])[0]
    processed = det.preprocessing(tile)
    assert processed.shape[-2:] == (96, 96)  # 40 px * 2.5 = 100, rounded to 16 px cells
    truth = np.array([[window.x0 + 3.25, window.y0 + 7.5, window.x0 + 20.0, window.y0 + 39.0]])
    on_tensor = processed.geometry.from_original(truth)
    s = 96 / 40
    expected = (truth - [window.x0, window.y0, window.x0, window.y0]) * s
    np.testing.assert_allclose(on_tensor, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(processed.to_original(on_tensor), truth, rtol=0, atol=1e-12)


def _oracle(truth, scores):
    """A perfect detector that, like a real one, sees only the part of a source in its tile."""

    def predict(images):
        out = []
        for image in images:
            x0, y0 = image.geometry.offset
            x1, y1 = x0 + image.width, y0 + image.height
            clipped = truth.copy()
            clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(x0, x1)
            clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(y0, y1)
            seen = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
            out.append((clipped[seen], scores[seen], np.ones(seen.sum(), dtype=int)))
        return out

    return predict


def test_tiles_merge_without_duplicates_at_borders():
    # A grid of sources 17 px apart: some straddle every interior tile edge.
    windows = tile_windows((150, 150), 60, 16)
    edges = {w.x0 for w in windows} | {w.x1 for w in windows}
    centres = 7.0 + 17.0 * np.arange(9)
    assert all(np.abs(centres - e).min() < 6 for e in edges - {0, 150})
    truth = np.array([[x - 6, y - 5, x + 6, y + 5] for x in centres for y in centres])
    scores = np.linspace(0.9, 0.6, len(truth))
    reader = MosaicReader(np.random.default_rng(2).normal(size=(150, 150)))
    boxes, got, _, _, info = detect_tiled(reader, _oracle(truth, scores), tile=60, overlap=16,
                                       progress=False)
    assert info == {"tiles": 16, "skipped": 0}
    assert len(boxes) == len(truth)
    order = np.argsort(-scores)
    np.testing.assert_array_equal(boxes[np.argsort(-got)], truth[order])


def test_nan_and_blank_tiles_are_skipped(tmp_path):
    data = np.random.default_rng(1).normal(size=(128, 128)).astype(np.float32)
    data[:, :64] = np.nan          # a NaN border, half the mosaic
    data[64:, 64:] = 0.0           # a blanked area
    path = tmp_path / "mosaic.fits"
    fits.PrimaryHDU(data[np.newaxis, np.newaxis]).writeto(path)  # radio-style 4-D
    seen = []

    def predict(images):
        seen.extend(images)
        return [(np.array([[1.0, 1, 5, 5], [20, 10, 24, 14]]) + [*image.geometry.offset] * 2,
                 np.array([0.9, 0.8]), np.array([1, 1])) for image in images]

    reader = MosaicReader(path)
    assert reader.shape == (128, 128)
    window = tile_windows(reader.shape, 32, 0)[3]
    np.testing.assert_array_equal(reader.read([window])[0].data, data[:32, 96:128])
    boxes, _, _, _, info = detect_tiled(reader, predict, tile=32, overlap=0, progress=False)
    assert info["tiles"] == 16 and info["skipped"] == 12  # 8 NaN tiles, 4 blank ones
    assert all(isinstance(im, AstroImage) and im.geometry.offset[0] >= 64 for im in seen)
    assert len(boxes) == 4 * 2  # every detection lies on valid pixels of a kept tile


def test_auto_tile_runs_small_images_whole():
    from astrofm.detect.tiling import auto_tile

    assert auto_tile((300, 300), 3.0, 10, 22) is None  # 900 px after scaling: whole
    assert auto_tile((8192, 8192), 3.0, 10, 22) == 171  # 512 scaled px per tile
    assert auto_tile((8192, 8192), 1.0, 200, 64) == 800  # room for twice the overlap
