"""Training augmentation of the detector: every image a new, equally valid view.

:meth:`Detector.fit <astrofm.detect.Detector.fit>` augments its training images (not the
validation images, nor anything at inference) with a :class:`DetectionAugment`, in
three places, each where its quantity exists:

1. on the float image **as loaded** (:meth:`DetectionAugment.physical`): a broader PSF
   (Gaussian blur), extra Gaussian noise at a multiple of the image's own rms, and a
   background offset and gradient in units of the rms (``psf_blur``, ``add_noise`` and
   ``add_background`` of :mod:`astrofm.preprocess.augment`). The boxes stay as they are;
2. **inside the preprocessing**: contrast, as varied clip and stretch limits
   (:class:`~astrofm.preprocess.augment.StrongAugment`'s own variation of the pipeline);
3. on the **model-ready tensor with its boxes**: flips, 90-degree rotations, a small
   random shift and scale (jitter) and a random blur, by ``torchvision.transforms.v2``
   on a ``tv_tensors.BoundingBoxes``, which moves the boxes exactly. Boxes the jitter
   pushes over an edge are clipped to the image, and dropped when their centre leaves
   it, as :mod:`astrofm.detect.catalog` clips the boxes of a catalogue.

The random draws of each image come from a stream of its own, seeded by ``fit``'s
``seed``, the process's rank and the DataLoader worker, so a run repeats and no two
processes or workers draw alike.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from astrofm.detect.catalog import _clip
from astrofm.detect.datasets import with_transform
from astrofm.errors import ConfigError
from astrofm.image import AstroImage
from astrofm.preprocess.augment import StrongAugment, add_background, add_noise, psf_blur

__all__ = ["DetectionAugment", "check_augment", "augmented"]


def _range(name: str, pair, low: float = 0.0) -> tuple[float, float]:
    try:
        a, b = (_number(v) for v in pair)
    except (TypeError, ValueError):
        a = b = math.nan
    if not low <= a <= b:
        raise ConfigError(f"DetectionAugment({name}={pair!r}): give a range (low, high) with "
                          f"{low:g} <= low <= high.")
    return a, b


def _number(value) -> float:
    """``value`` as a float, NaN (which fails every check) when it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _probability(name: str, p) -> float:
    if not 0 <= _number(p) <= 1:
        raise ConfigError(f"DetectionAugment({name}={p!r}): give a probability in [0, 1].")
    return float(p)


class DetectionAugment:
    """The random views :meth:`Detector.fit <astrofm.detect.Detector.fit>` trains on.

    Every option has a value that switches it off (False, 0, ``(0, 0)``, ``(1, 1)``);
    ``Detector.fit(augment=True)`` uses the defaults. See the module's description of
    where each one acts.

    Parameters
    ----------
    flips : bool
        Flip left-right and up-down, each with probability 1/2.
    rotations : bool
        Rotate by k x 90 degrees, k uniform in 0..3 (the sky has no up).
    shift : float
        Largest jitter shift, as a fraction of each side (whole pixels), in [0, 0.5).
    scale : (float, float)
        Range of the jitter's scale factor, about the image centre.
    blur, blur_p : (float, float), float
        Range of the sigma (pixels of the model input) of a random Gaussian blur of the
        model input, and its probability.
    limits, stretch : float
        Contrast: how far the clip and stretch limits of the preprocessing move, as
        :class:`~astrofm.preprocess.augment.StrongAugment`'s ``limits`` and ``stretch``.
    noise : (float, float)
        Range of the factor :math:`f` of added Gaussian noise, in units of the image's
        own rms (the noise becomes :math:`\\sigma\\sqrt{1 + f^2}`).
    background : (float, float)
        Range of an added background offset, in units of the image's rms.
    gradient : (float, float)
        Range of an added background gradient in rms units, centre to edge, in a
        random direction.
    psf, psf_p : (float, float), float
        Range of the sigma (pixels of the image as loaded) of a PSF-like Gaussian blur
        before the preprocessing, and its probability.
    """

    def __init__(self, *, flips: bool = True, rotations: bool = True, shift: float = 0.1,
                 scale=(0.9, 1.1), blur=(0.1, 1.0), blur_p: float = 0.2, limits: float = 0.1,
                 stretch: float = 0.5, noise=(0.0, 0.5), background=(-1.0, 1.0),
                 gradient=(0.0, 1.0), psf=(0.5, 1.5), psf_p: float = 0.3):
        if not 0 <= _number(shift) < 0.5:
            raise ConfigError(f"DetectionAugment(shift={shift!r}): give a fraction of the side "
                              "in [0, 0.5).")
        if not (0 <= _number(limits) < 1 and _number(stretch) >= 0):
            raise ConfigError(f"DetectionAugment(limits={limits!r}, stretch={stretch!r}): give "
                              "limits in [0, 1) and stretch >= 0.")
        self.flips, self.rotations, self.shift = bool(flips), bool(rotations), float(shift)
        self.scale = _range("scale", scale, low=1e-3)
        self.blur, self.blur_p = _range("blur", blur), _probability("blur_p", blur_p)
        self.limits, self.stretch = float(limits), float(stretch)
        self.noise = _range("noise", noise)
        self.background = _range("background", background, low=-math.inf)
        self.gradient = _range("gradient", gradient)
        self.psf, self.psf_p = _range("psf", psf), _probability("psf_p", psf_p)
        self._transform = self.tensor_transform()

    def config(self) -> dict:
        """The settings as JSON-able keyword arguments: ``DetectionAugment(**config)``."""
        return {"flips": self.flips, "rotations": self.rotations, "shift": self.shift,
                "scale": list(self.scale), "blur": list(self.blur), "blur_p": self.blur_p,
                "limits": self.limits, "stretch": self.stretch, "noise": list(self.noise),
                "background": list(self.background), "gradient": list(self.gradient),
                "psf": list(self.psf), "psf_p": self.psf_p}

    def physical(self, image: AstroImage) -> AstroImage:
        """A random view of ``image`` as loaded: broader PSF, more noise, a background.

        The blur (with probability ``psf_p``) comes first, as a broader PSF blurs the
        sky before the noise is added; the noise is then a multiple of the rms of the
        blurred image, and the background of the rms of the noisier one. Draws come
        from torch's random generator.
        """
        if self.psf[1] > 0 and float(torch.rand(())) < self.psf_p:
            image = psf_blur(image, _uniform(*self.psf))
        if self.noise[1] > 0:
            generator = np.random.default_rng(int(torch.randint(0, 2**62, ())))
            image = add_noise(image, _uniform(*self.noise), generator)
        if self.background != (0.0, 0.0) or self.gradient != (0.0, 0.0):
            image = add_background(image, _uniform(*self.background), _uniform(*self.gradient),
                                   _uniform(0.0, 2 * math.pi))
        return image

    def tensor_transform(self) -> v2.Transform:
        """The ``torchvision.transforms.v2`` transform of the model input and its boxes."""
        steps = []
        if self.flips:
            steps += [v2.RandomHorizontalFlip(0.5), v2.RandomVerticalFlip(0.5)]
        if self.rotations:
            # expand=True turns an H x W canvas into W x H, so a quarter turn of any
            # shape is a pure permutation of the pixels.
            steps.append(v2.RandomChoice([v2.RandomRotation((a, a), expand=True)
                                          for a in (0.0, 90.0, 180.0, 270.0)]))
        if self.shift or self.scale != (1.0, 1.0):
            steps.append(v2.RandomAffine(0.0, translate=(self.shift, self.shift),
                                         scale=self.scale,
                                         interpolation=v2.InterpolationMode.BILINEAR))
        if self.blur_p and self.blur[1] > 0:
            kernel = 2 * math.ceil(3 * self.blur[1]) + 1
            steps.append(v2.RandomApply([v2.GaussianBlur(kernel, self.blur)], p=self.blur_p))
        return v2.Compose(steps or [v2.Identity()])

    def __call__(self, tensor: torch.Tensor, target: dict) -> tuple[torch.Tensor, dict]:
        """A random view of a model-ready ``(C, H, W)`` tensor and its target.

        The boxes (x0, y0, x1, y1 on the tensor) move with the pixels; those pushed over
        an edge are clipped to the image, and dropped with their labels when their
        centre leaves it. Draws come from torch's random generator.
        """
        boxes = tv_tensors.BoundingBoxes(target["boxes"], format="XYXY",
                                         canvas_size=tuple(tensor.shape[-2:]),
                                         clamping_mode=None)
        tensor, boxes = self._transform(tv_tensors.Image(tensor), boxes)
        clipped, keep = _clip(boxes.as_subclass(torch.Tensor).numpy(), tensor.shape[-2:])
        target = {**target, "boxes": torch.as_tensor(clipped[keep], dtype=torch.float32),
                  "labels": target["labels"][torch.from_numpy(keep)]}
        return tensor.as_subclass(torch.Tensor), target

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"DetectionAugment({options})"


def check_augment(augment) -> DetectionAugment | None:
    """The augmentation that ``Detector.fit(augment=...)`` asks for, or None for none.

    Raises
    ------
    ConfigError
        ``augment`` is neither a bool nor a :class:`DetectionAugment`.
    """
    if augment is True:
        return DetectionAugment()
    if augment is False or augment is None:
        return None
    if isinstance(augment, DetectionAugment):
        return augment
    raise ConfigError(f"augment={augment!r}: give True (the default augmentation), False "
                      "(none) or an astrofm.detect.DetectionAugment(...).")


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(()))


class _View:
    """The transform of a loaded image: physical perturbations, then varied preprocessing."""

    def __init__(self, augment: DetectionAugment, preprocessing):
        self.augment = augment
        # Only StrongAugment's variation of the pipeline (contrast) is used.
        self.contrast = StrongAugment(preprocessing, limits=augment.limits,
                                      stretch=augment.stretch, erase_p=0.0)

    def __call__(self, image):
        return self.contrast.pipeline()(self.augment.physical(image))


class AugmentedDetections(Dataset):
    """A detection set whose every item is a new random view, boxes moved with it.

    Made by :func:`augmented`; items are ``(tensor, target)`` as those of
    :class:`~astrofm.data.CocoDataset`.
    """

    def __init__(self, data, preprocessing, augment: DetectionAugment, seed: int):
        self.data = with_transform(data, _View(augment, preprocessing))
        self.augment = augment
        self.seed, self._drawn = int(seed), 0

    def __len__(self) -> int:
        return len(self.data)

    def _stream_seed(self) -> int:
        """The seed of the next item: fit's seed, this process's rank and worker, a count."""
        from astrofm.trainer import global_rank

        info = torch.utils.data.get_worker_info()
        worker = 0 if info is None else info.id + 1
        self._drawn += 1
        sequence = np.random.SeedSequence([self.seed, global_rank(), worker, self._drawn])
        return int(sequence.generate_state(1, np.uint64)[0] >> 1)

    def __getitem__(self, index: int):
        # A private stream: the global generator (dropout, RoI sampling) is left as it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._stream_seed())
            return self.augment(*self.data[index])


def augmented(data, preprocessing, augment: DetectionAugment | None, seed: int):
    """The training set as the detector trains on it: augmented, or ``data`` unchanged.

    Parameters
    ----------
    data : CocoDataset or Subset of one
        The training images; their own transform is replaced, in a copy.
    preprocessing : Step
        The detector's preprocessing.
    augment : DetectionAugment or None
        None returns ``data`` itself.
    seed : int
        Seeds the random streams (see the module's description).
    """
    if augment is None:
        return data
    return AugmentedDetections(data, preprocessing, augment, seed)
