"""Training augmentation of the detector: boxes follow the image exactly, physics in rms."""

import numpy as np
import pytest
import torch
from astropy.stats import mad_std

import astrofm
from astrofm.data import CocoDataset
from astrofm.detect import DetectionAugment
from astrofm.detect.augment import augmented
from astrofm.errors import ConfigError
from astrofm.image import AstroImage

from .conftest import tiny_detector

#: Every option off: each test switches on the one it checks.
OFF = {"flips": False, "rotations": False, "shift": 0.0, "scale": (1.0, 1.0), "blur_p": 0.0,
       "limits": 0.0, "stretch": 0.0, "noise": (0.0, 0.0), "background": (0.0, 0.0),
       "gradient": (0.0, 0.0), "psf_p": 0.0}
H, W = 32, 48


def _square(rows, cols):
    """A (1, H, W) tensor with one bright rectangle, and its box x0, y0, x1, y1."""
    image = torch.zeros(1, H, W)
    image[0, rows[0]:rows[1], cols[0]:cols[1]] = 1.0
    return image, [float(cols[0]), float(rows[0]), float(cols[1]), float(rows[1])]


def _extent(image, threshold=0.5):
    """The pixel extent of the bright pixels, as a box in the edge convention."""
    ys, xs = np.nonzero(image[0].numpy() > threshold)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def _views(options, image, boxes, n=24):
    """The image and its boxes after ``n`` seeded draws, and which boxes were kept."""
    augment = DetectionAugment(**{**OFF, **options})
    target = {"boxes": torch.tensor(boxes), "labels": torch.arange(1, len(boxes) + 1)}
    out = []
    for seed in range(n):
        torch.manual_seed(seed)
        view, moved = augment(image, target)
        out.append((view, moved["boxes"].numpy(), moved["labels"].tolist()))
    return out


def test_flips_move_the_box_as_worked_out_by_hand():
    image, box = _square((5, 9), (10, 16))
    x0, y0, x1, y1 = box
    cases = {(False, False): [x0, y0, x1, y1], (True, False): [W - x1, y0, W - x0, y1],
             (False, True): [x0, H - y1, x1, H - y0],
             (True, True): [W - x1, H - y1, W - x0, H - y0]}
    seen = set()
    for view, moved, _ in _views({"flips": True}, image, [box]):
        case = next(c for c in cases if torch.equal(view, image.flip(
            [d for d, on in zip((2, 1), c, strict=True) if on]) if any(c) else image))
        seen.add(case)
        assert moved[0] == pytest.approx(cases[case], abs=1e-4)
        assert moved[0] == pytest.approx(_extent(view), abs=1e-4)
    assert seen == set(cases)


def test_quarter_turns_move_the_box_as_worked_out_by_hand():
    image, box = _square((5, 9), (10, 16))
    x0, y0, x1, y1 = box
    # torch.rot90 (counter-clockwise on the array): pixel (x, y) goes to (y, W - 1 - x).
    cases = {0: [x0, y0, x1, y1], 1: [y0, W - x1, y1, W - x0],
             2: [W - x1, H - y1, W - x0, H - y0], 3: [H - y1, x0, H - y0, x1]}
    seen = set()
    for view, moved, _ in _views({"rotations": True}, image, [box]):
        k = next(k for k in cases if view.shape == torch.rot90(image, k, (1, 2)).shape
                 and torch.equal(view, torch.rot90(image, k, (1, 2))))
        seen.add(k)
        assert moved[0] == pytest.approx(cases[k], abs=1e-4)
        assert moved[0] == pytest.approx(_extent(view), abs=1e-4)
    assert seen == set(cases)


def test_jitter_shift_moves_boxes_and_clips_or_drops_those_at_an_edge():
    image, inner = _square((12, 18), (20, 28))
    image[0, 10:14, 0:4] = 0.6                      # a fainter source on the left edge
    edge = [0.0, 10.0, 4.0, 14.0]
    kept = dropped = 0
    for view, moved, labels in _views({"shift": 0.2}, image, [inner, edge]):
        # The shift, read off the inner square in the image (brighter than the edge source).
        found = _extent(view, threshold=0.8)
        dx, dy = found[0] - inner[0], found[1] - inner[1]
        assert moved[0] == pytest.approx([inner[0] + dx, inner[1] + dy, inner[2] + dx,
                                          inner[3] + dy], abs=1e-4)
        assert moved[0] == pytest.approx(found, abs=1e-4)
        # Catalogue convention: kept, clipped, while its centre (x = 2 + dx) is on the image.
        if 2 + dx >= 0:
            kept += 1
            assert labels == [1, 2]
            assert moved[1] == pytest.approx([max(0, dx), 10 + dy, 4 + dx, 14 + dy], abs=1e-4)
        else:
            dropped += 1
            assert labels == [1] and len(moved) == 1
    assert kept and dropped


def test_jitter_scale_keeps_the_box_on_the_source():
    image, box = _square((10, 18), (16, 30))
    for view, moved, _ in _views({"scale": (0.7, 1.3)}, image, [box], n=8):
        assert moved[0] == pytest.approx(_extent(view), abs=1.0)


def test_blur_of_the_model_input_keeps_the_boxes():
    image, box = _square((10, 18), (16, 30))
    views = _views({"blur": (1.0, 2.0), "blur_p": 1.0}, image, [box], n=3)
    for view, moved, _ in views:
        assert not torch.equal(view, image)
        assert moved[0] == pytest.approx(box, abs=1e-6)


@pytest.fixture
def noise_image():
    rng = np.random.default_rng(5)
    return AstroImage(rng.normal(3.0, 2.0, (256, 256)).astype(np.float32))


def test_noise_is_added_at_the_requested_multiple_of_the_image_rms(noise_image):
    torch.manual_seed(0)
    out = DetectionAugment(**{**OFF, "noise": (0.8, 0.8)}).physical(noise_image)
    added = out.data - noise_image.data
    assert mad_std(added) == pytest.approx(0.8 * mad_std(noise_image.data), rel=0.03)
    # Independent noise adds in quadrature.
    assert mad_std(out.data) == pytest.approx(np.hypot(1, 0.8) * mad_std(noise_image.data),
                                              rel=0.03)


def test_background_offset_and_gradient_are_in_rms_units(noise_image):
    rms = float(mad_std(noise_image.data))
    torch.manual_seed(0)
    out = DetectionAugment(**{**OFF, "background": (1.5, 1.5)}).physical(noise_image)
    assert np.median(out.data) - np.median(noise_image.data) == pytest.approx(1.5 * rms,
                                                                                rel=1e-4)
    torch.manual_seed(1)
    out = DetectionAugment(**{**OFF, "gradient": (2.0, 2.0)}).physical(noise_image)
    y, x = np.mgrid[:256, :256]
    design = np.stack([np.ones(x.size), x.ravel(), y.ravel()], axis=1)
    (a, bx, by), *_ = np.linalg.lstsq(design, (out.data - noise_image.data).ravel(),
                                      rcond=None)
    # 2 rms from the centre to the edge (128 px) along the gradient's direction.
    assert np.hypot(bx, by) * 128 == pytest.approx(2.0 * rms, rel=1e-3)
    assert a + bx * 127.5 + by * 127.5 == pytest.approx(0.0, abs=1e-3 * rms)


def test_psf_blur_smooths_the_noise(noise_image):
    torch.manual_seed(0)
    out = DetectionAugment(**{**OFF, "psf": (1.5, 1.5), "psf_p": 1.0}).physical(noise_image)
    # White noise through a Gaussian of sigma s keeps 1 / (2 s sqrt(pi)) of its rms.
    inner = slice(10, -10)
    assert mad_std(out.data[inner, inner]) == pytest.approx(
        mad_std(noise_image.data) / (2 * 1.5 * np.sqrt(np.pi)), rel=0.05)


@pytest.mark.parametrize("options, word", [
    ({"noise": (1.0, 0.5)}, "noise"), ({"shift": 0.6}, "shift"), ({"psf_p": 2}, "psf_p"),
    ({"scale": (0.0, 1.0)}, "scale"), ({"limits": 1.5}, "limits"), ({"blur": "x"}, "blur"),
    ({"shift": "small"}, "shift"), ({"blur_p": None}, "blur_p")])
def test_bad_options_raise_a_config_error_naming_them(options, word):
    with pytest.raises(ConfigError, match=word):
        DetectionAugment(**options)


def _capture_fit(monkeypatch, det, fields, **options):
    """The training and validation sets that fit hands to the training loop."""
    import astrofm.detect.module as module

    seen = {}

    def fake(network, train, val, **_):
        seen.update(train=train, val=val)
        return {}

    monkeypatch.setattr(module, "fit_network", fake)
    det.fit(fields, progress=False, **options)
    return seen["train"], seen["val"]


def test_augment_false_trains_on_the_data_untouched(monkeypatch, fields):
    det = tiny_detector("resnet18")
    train, _ = _capture_fit(monkeypatch, det, fields, augment=False)
    plain = CocoDataset(fields, transform=det.preprocessing)
    for i, index in enumerate(train.indices):
        tensor, target = train[i]
        # The same computation on the same file: identical, not merely close.
        assert torch.equal(tensor, plain[index][0])
        assert torch.equal(target["boxes"], plain[index][1]["boxes"])
    assert det.history["augment"] is None


def test_validation_is_not_augmented_and_training_is(monkeypatch, fields):
    det = tiny_detector("resnet18")
    train, val = _capture_fit(monkeypatch, det, fields)
    plain = CocoDataset(fields, transform=det.preprocessing)
    for i, index in enumerate(val.indices):
        assert torch.equal(val[i][0], plain[index][0])
    differs = [not (train[i][0].shape == plain[index][0].shape
                    and torch.allclose(train[i][0], plain[index][0], atol=1e-3))
               for i, index in enumerate(train.data.indices)]
    assert all(differs)
    assert det.history["augment"] == DetectionAugment().config()


def test_a_bad_augment_is_refused_before_any_compute(monkeypatch, fields):
    import astrofm.detect.module as module

    monkeypatch.setattr(module, "fit_network", lambda *a, **k: pytest.fail("trained"))
    det = tiny_detector("resnet18")
    with pytest.raises(ConfigError, match="augment="):
        det.fit(fields, augment="strong", progress=False)


def test_views_repeat_with_the_seed_and_differ_between_seeds_and_workers(fields):
    from torch.utils.data import DataLoader

    det = tiny_detector("resnet18")
    data = CocoDataset(fields, transform=det.preprocessing)
    first, again, other = (augmented(data, det.preprocessing, DetectionAugment(), seed)
                           for seed in (0, 0, 1))
    a, b, c = first[0], again[0], other[0]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["boxes"], b[1]["boxes"])
    assert not (a[0].shape == c[0].shape and torch.allclose(a[0], c[0], atol=1e-3))
    # Two workers, each given image 0 once, draw from streams of their own.
    loader = DataLoader(augmented(data, det.preprocessing, DetectionAugment(), 0),
                        sampler=[0, 0], batch_size=1, num_workers=2,
                        collate_fn=lambda batch: batch[0])
    (x, _), (y, _) = list(loader)
    assert not (x.shape == y.shape and torch.allclose(x, y, atol=1e-3))


def test_fit_trains_with_augmentation_in_workers_and_saves_its_settings(fields, tmp_path):
    # The two-block ViT: the augmentation and its saved settings do not depend on the
    # backbone, and a full-size ResNet-18 made the two steps twice as slow.
    det = tiny_detector(tuning="full")
    augment = DetectionAugment(noise=(0.0, 0.3), psf_p=0.5)
    det.fit(fields, epochs=1, batch_size=2, max_steps=2, num_workers=1, augment=augment,
            progress=False)
    assert det.history["steps"] == 2
    det.save(tmp_path / "d.astrofm")
    saved = astrofm.load(tmp_path / "d.astrofm").history["augment"]
    assert saved == augment.config()
    assert DetectionAugment(**saved).config() == augment.config()
