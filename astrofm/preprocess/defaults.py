"""Default pipelines by kind of data, parameterised by what a backbone declares."""

from __future__ import annotations

from astrofm.errors import ConfigError
from astrofm.image import AstroImage
from astrofm.preprocess.base import check_choice
from astrofm.preprocess.channels import ToChannels
from astrofm.preprocess.clip import SigmaClip
from astrofm.preprocess.normalize import Normalize
from astrofm.preprocess.pipeline import Pipeline
from astrofm.preprocess.resize import ResizeForPatch
from astrofm.preprocess.stretch import Stretch

__all__ = ["default_pipeline", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_KINDS = {"fits": False, "float": False, "display": True, "png": True, "jpeg": True}


def default_pipeline(image_or_kind="fits", *, patch_size=14, size=224, mean=None, std=None,
                     channels=3, interpolation="bicubic", display_max=255.0):
    """The default preprocessing for a kind of data and a backbone's input declaration.

    * Float data (FITS; ``image.display`` False): ``SigmaClip(3, "zero")`` →
      ``Stretch("asinh", "zscale", exclude_zeros=True)`` → ``ResizeForPatch`` →
      ``ToChannels("replicate")`` → ``Normalize``. The zscale interval is fitted to
      the pixels that survive the clip: on the clipped image, mostly zeros, it would
      otherwise collapse to ``(0, 0)`` and blank every image.
    * 8-bit display images (PNG/JPEG; ``image.display`` True) are already stretched:
      ``Stretch("linear", "manual", vmin=0, vmax=display_max)``, which is
      :math:`x / 255` clipped to [0, 1] → resize → channels → normalize.

    Parameters
    ----------
    image_or_kind : AstroImage or str
        An image (its ``display`` flag decides), or ``"fits"``/``"float"`` or
        ``"display"``/``"png"``/``"jpeg"``.
    patch_size : int or None
        The backbone's patch size.
    size : int, (int, int) or None
        The backbone's input size (a multiple of ``patch_size``); None keeps the image
        size rounded to whole patches.
    mean, std : float or sequence of float, optional
        The backbone's normalisation; None means ImageNet's, for 3 channels.
    channels : int
        Number of input channels of the backbone.
    interpolation : str
        Interpolation of :class:`~astrofm.preprocess.ResizeForPatch`.
    display_max : float
        Full-scale value of display images (255 for 8-bit, 65535 for 16-bit).

    Returns
    -------
    Pipeline
    """
    if isinstance(image_or_kind, AstroImage):
        display = bool(image_or_kind.display)
    else:
        check_choice("kind of data", image_or_kind, _KINDS)
        display = _KINDS[image_or_kind]
    if mean is None or std is None:
        if channels != 3:
            raise ConfigError(
                f"default_pipeline has no default mean/std for {channels} channel(s); pass "
                "the backbone's mean and std."
            )
        mean = IMAGENET_MEAN if mean is None else mean
        std = IMAGENET_STD if std is None else std
    if display:
        steps = [Stretch("linear", "manual", vmin=0.0, vmax=float(display_max))]
    else:
        steps = [SigmaClip(3.0, "zero"), Stretch("asinh", "zscale", exclude_zeros=True)]
    steps.append(ResizeForPatch(patch_size, size, interpolation=interpolation))
    steps.append(ToChannels("replicate", n=channels))
    steps.append(Normalize(mean, std))
    return Pipeline(steps)
