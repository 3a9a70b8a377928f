"""Strong augmentation that keeps astronomical sense, for semi-supervised training.

FixMatch-style training compares a model's prediction on a weakly augmented image
with its prediction on a strongly augmented view of the same image. Photographic
recipes (colour jitter, contrast, solarise) have no meaning for a single-band flux
map, so :class:`StrongAugment` perturbs what differs between two honest observations
of the same source instead. Each perturbation acts where the physical quantity
still exists:

1. on the float image **as loaded**, before any preprocessing step: extra Gaussian
   noise at a multiple of the image's own noise rms (``astropy.stats.mad_std``, robust
   to the source), and a PSF-like Gaussian blur (``torchvision.transforms.v2``);
   :func:`add_background` adds a background offset and gradient in units of that rms
   (the detector's augmentation, :mod:`astrofm.detect.augment`, uses it);
2. **inside the preprocessing**: the clip and stretch limits are varied, by rebuilding
   the classifier's own pipeline with jittered :class:`~astrofm.preprocess.SigmaClip`
   thresholds and :class:`~astrofm.preprocess.Stretch` interval / stretch parameters;
3. on the **model-ready tensor**: random erasing (``v2.RandomErasing``, value 0, the
   same on every channel). Flips, 90-degree rotations and shifts are added on the
   batch by the trainer (:class:`~astrofm.classify.augment.SkyAugment`).

No operation mixes or rescales channels differently, so a single-band image that the
pipeline replicates into three channels keeps three identical channels.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from astropy.stats import mad_std
from astropy.visualization import AsinhStretch, LogStretch, SinhStretch
from torchvision.transforms import v2

from astrofm.data.base import image_to_tensor
from astrofm.errors import ConfigError
from astrofm.image import AstroImage
from astrofm.preprocess.base import from_dict

__all__ = ["StrongAugment", "add_noise", "add_background", "psf_blur", "image_rms"]

# astropy's own defaults of the stretch parameter ``a``, used when a pipeline leaves it out.
_STRETCH_A = {"asinh": AsinhStretch().a, "log": LogStretch().a, "sinh": SinhStretch().a}


def image_rms(image: AstroImage) -> float:
    """Noise rms of an image: ``astropy.stats.mad_std`` of its valid pixels.

    The median absolute deviation ignores the source, which covers few pixels, so
    this is the noise of the background.
    """
    valid = image.data[~image.mask] if image.mask.any() else image.data.ravel()
    return float(mad_std(valid.astype(np.float64))) if valid.size else 0.0


def add_noise(image: AstroImage, factor: float, generator: np.random.Generator) -> AstroImage:
    """``image`` plus Gaussian noise of rms ``factor`` times the image's own rms.

    Independent noise adds in quadrature, so the result has a noise rms of
    :math:`\\sigma\\sqrt{1 + f^2}`.
    """
    sigma = factor * image_rms(image)
    data = image.data.astype(np.float32, copy=True)
    if sigma > 0:
        data += generator.normal(0.0, sigma, size=data.shape).astype(np.float32)
    return image.with_step({"step": "augment-noise", "factor": float(factor)}, data,
                           mask=image.mask)


def add_background(image: AstroImage, offset: float, gradient: float,
                   angle: float) -> AstroImage:
    """``image`` plus a plane, in units of the image's own rms.

    The plane is ``offset`` at the centre of the image and changes by ``gradient``
    from the centre to the middle of an edge of the longer side, along the direction
    ``angle`` (radians, counter-clockwise from the ``x`` axis of the array): a
    background that a calibration or a subtraction left behind.
    """
    rms = image_rms(image)
    h, w = image.data.shape[-2:]
    y, x = np.mgrid[:h, :w].astype(np.float64)
    along = (x - (w - 1) / 2) * math.cos(angle) + (y - (h - 1) / 2) * math.sin(angle)
    plane = rms * (offset + gradient * along / (max(h, w) / 2))
    data = (image.data + plane).astype(np.float32)
    return image.with_step({"step": "augment-background", "offset": float(offset),
                            "gradient": float(gradient), "angle": float(angle)}, data,
                           mask=image.mask)


def psf_blur(image: AstroImage, sigma: float) -> AstroImage:
    """``image`` convolved with a circular Gaussian of ``sigma`` pixels: a broader PSF.

    Masked pixels count as 0 in the convolution and stay masked.
    """
    kernel = 2 * math.ceil(3 * sigma) + 1
    data = torch.from_numpy(np.where(image.mask, np.float32(0), image.data))
    planar = data if data.ndim == 3 else data[None]
    blurred = v2.functional.gaussian_blur(planar, [kernel, kernel], [sigma, sigma])
    return image.with_step({"step": "augment-blur", "sigma": sigma},
                           blurred.reshape(data.shape).numpy(), mask=image.mask)


def _jitter(config: dict, u, limits: float, stretch: float) -> dict:
    """A copy of a step dict, nested steps included, with varied clip and stretch limits.

    ``u()`` draws uniformly in [-1, 1]. Additive limits (SigmaClip's sigma, a manual
    interval) move by up to ``limits`` of their value or span; a percentile's tail and
    zscale's contrast scale by up to :math:`2^{\\pm 10\\,\\mathrm{limits}}`.
    """
    def walk(value):
        if isinstance(value, dict) and "step" in value:
            return _jitter(value, u, limits, stretch)
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    config = {key: walk(value) for key, value in config.items()}
    if config["step"] == "SigmaClip":
        config["sigma"] = config.get("sigma", 3.0) * (1 + limits * u())
    elif config["step"] == "Stretch":
        interval = config.get("interval")
        if interval == "manual" and "vmin" in config and "vmax" in config:
            span = config["vmax"] - config["vmin"]
            config["vmin"] = config["vmin"] + limits * span * u()
            config["vmax"] = config["vmax"] + limits * span * u()
        elif interval == "percentile":
            config["percentile"] = 100 - (100 - config["percentile"]) * 2 ** (10 * limits * u())
        elif interval == "zscale":
            config["contrast"] = config.get("contrast", 0.25) * 2 ** (10 * limits * u())
        kind = config.get("kind")
        if kind in _STRETCH_A and stretch:
            config["a"] = config.get("a", _STRETCH_A[kind]) * 2 ** (stretch * u())
    return config


class StrongAugment:
    """A random, astronomy-aware strong view: the image as a model-ready tensor.

    Called on an :class:`~astrofm.image.AstroImage` as loaded, it returns the
    ``(C, H, W)`` tensor of ``preprocessing`` applied to a perturbed copy (see the
    module's description of where each perturbation acts). Randomness comes from
    torch's generator, which Lightning seeds per DataLoader worker.

    Parameters
    ----------
    preprocessing : Step
        The classifier's preprocessing; its clip and stretch limits are varied.
    noise : (float, float)
        Range of the factor :math:`f` of the added noise, in units of the image's own
        rms (the result has :math:`\\sigma\\sqrt{1+f^2}`).
    blur : (float, float)
        Range of the Gaussian blur's sigma, in pixels of the image as loaded.
    blur_p : float
        Probability of the blur.
    limits : float
        How far clip and stretch limits move: SigmaClip's sigma by up to this fraction,
        a manual interval's limits by this fraction of their span, a percentile
        interval's tail and zscale's contrast by a factor up to :math:`2^{\\pm 10 l}`.
    stretch : float
        The stretch parameter ``a`` (asinh, log, sinh) is scaled by up to
        :math:`2^{\\pm s}`.
    erase_p : float
        Probability of erasing one random rectangle (2-20 % of the area) to 0.
    """

    def __init__(self, preprocessing, *, noise=(0.0, 1.0), blur=(0.5, 1.5), blur_p=0.5,
                 limits=0.1, stretch=1.0, erase_p=0.5):
        for name, pair in (("noise", noise), ("blur", blur)):
            if len(pair) != 2 or not 0 <= pair[0] <= pair[1]:
                raise ConfigError(f"StrongAugment {name}={pair!r}: give a range (low, high) "
                                  "with 0 <= low <= high.")
        for name, p in (("blur_p", blur_p), ("erase_p", erase_p)):
            if not 0 <= p <= 1:
                raise ConfigError(f"StrongAugment {name}={p!r}: give a probability in [0, 1].")
        if not 0 <= limits < 1 or stretch < 0:
            raise ConfigError(f"StrongAugment limits={limits!r}, stretch={stretch!r}: give "
                              "limits in [0, 1) and stretch >= 0.")
        self.config = preprocessing.to_dict()
        self.noise, self.blur, self.blur_p = tuple(noise), tuple(blur), float(blur_p)
        self.limits, self.stretch = float(limits), float(stretch)
        self.erase = v2.RandomErasing(p=erase_p, scale=(0.02, 0.2), value=0)

    @staticmethod
    def _uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand(()))

    def physical(self, image: AstroImage) -> AstroImage:
        """Noise at the image's own rms, then (with probability ``blur_p``) the blur."""
        generator = np.random.default_rng(int(torch.randint(0, 2**62, ())))
        image = add_noise(image, self._uniform(*self.noise), generator)
        if self.blur[1] > 0 and float(torch.rand(())) < self.blur_p:
            image = psf_blur(image, self._uniform(*self.blur))
        return image

    def pipeline(self):
        """The preprocessing with randomly varied clip and stretch limits."""
        return from_dict(_jitter(self.config, lambda: self._uniform(-1.0, 1.0),
                                 self.limits, self.stretch))

    def __call__(self, image: AstroImage) -> torch.Tensor:
        return self.erase(image_to_tensor(self.pipeline()(self.physical(image))))
