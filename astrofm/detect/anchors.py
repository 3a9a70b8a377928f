"""Input scale and anchor shapes measured from the training boxes.

Detection improves when a source fills at least one patch of the backbone (the
reference study found more than 10 % better results for radio sources that did), so
the detector upsamples its inputs by

.. math:: s = \\max\\left(1, \\frac{N\\, p}{\\tilde{b}}\\right)

where :math:`\\tilde{b}` is the median box size :math:`\\sqrt{w h}` of the training set
in original pixels, :math:`p = 16` the stride of the detector grid every backbone
family shares (a ResNet's ``layer3``, a ViT's token grid) and :math:`N` the number of
patches a median source should span. Anchors then follow the box sizes after scaling:
the 5th, 50th and 95th percentiles (spread to at least half an octave either side of
the median, so a single-size data set still gets anchors for scale jitter), with the
10th, 50th and 90th percentiles of the aspect ratio :math:`h / w`. Every pyramid level
carries the same anchors (torchvision's RPN head is shared across levels, so each
level needs the same number); the levels whose stride suits a box size pick it up.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from astrofm.errors import BoxError, ConfigError, DatasetError

__all__ = ["BoxPrior", "box_prior", "box_sizes", "check_anchors", "check_number",
           "GRID_STRIDE"]

#: Stride of the detector grid that "one patch" refers to, for every backbone family.
GRID_STRIDE = 16


def box_sizes(boxes) -> np.ndarray:
    """The size :math:`\\sqrt{w h}` of each box ``(N, 4)`` as ``x0, y0, x1, y1``."""
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    if np.any(w <= 0) or np.any(h <= 0):
        raise BoxError(f"{int(np.sum((w <= 0) | (h <= 0)))} box(es) have zero or negative "
                       "width or height; every box needs x1 > x0 and y1 > y0.")
    return np.sqrt(w * h)


@dataclass(frozen=True)
class BoxPrior:
    """What the training boxes decide: input scale, anchors and tile overlap.

    Attributes
    ----------
    source_size : float
        Median box size :math:`\\sqrt{w h}` in original pixels.
    scale : float
        Input upsampling factor :math:`s`.
    anchor_sizes : tuple of float
        Anchor sizes in pixels of the scaled input, the same on every pyramid level.
    aspect_ratios : tuple of float
        Anchor aspect ratios :math:`h / w`.
    largest : float
        Largest box side in original pixels; the default tile overlap covers it, so
        every source lies whole in the tile that owns it.
    """

    source_size: float
    scale: float
    anchor_sizes: tuple
    aspect_ratios: tuple
    largest: float

    def to_dict(self) -> dict:
        """Plain-dict form, for saving with the model."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> BoxPrior:
        """Inverse of :meth:`to_dict`."""
        return cls(float(d["source_size"]), float(d["scale"]),
                   tuple(float(v) for v in d["anchor_sizes"]),
                   tuple(float(v) for v in d["aspect_ratios"]), float(d["largest"]))


def _number(value, low, high, low_inclusive, integer):
    """``value`` as a float when it is a real number in range, else None."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return None
    number = float(value)
    ok = (math.isfinite(number) and (number >= low if low_inclusive else number > low)
          and (high is None or number <= high) and (not integer or number.is_integer()))
    return number if ok else None


def check_number(name: str, value, *, low: float = 0, high: float | None = None,
                 low_inclusive: bool = False, integer: bool = False, hint: str = ""):
    """A numeric option as ``int`` or ``float``, or a ConfigError naming it.

    Parameters
    ----------
    name : str
        The option, for the message.
    value : object
        What was passed.
    low, high : float
        Bounds; ``high`` is inclusive, ``low`` only with ``low_inclusive``.
    integer : bool
        Require a whole number (returned as ``int``).
    hint : str
        Said after the range in the message (why the bound, or what to do).

    Returns
    -------
    int or float
    """
    number = _number(value, low, high, low_inclusive, integer)
    if number is None:
        kind = "an integer" if integer else "a number"
        wanted = f"{kind} {'>=' if low_inclusive else '>'} {low:g}" + (
            f" and <= {high:g}" if high is not None else "")
        raise ConfigError(f"{name}={value!r}: give {wanted}{hint}.")
    return int(number) if integer else number


def check_anchors(anchor_sizes=None, aspect_ratios=None) -> tuple:
    """Fixed anchor sizes and aspect ratios as tuples of float (None stays None).

    Raises
    ------
    ConfigError
        Not a non-empty sequence of positive finite numbers, naming the option.
    """
    examples = {"anchor_sizes": "sizes in pixels of the scaled input, e.g. (8, 16, 32)",
                "aspect_ratios": "ratios h / w, e.g. (0.5, 1, 2)"}
    out = []
    for name, values in (("anchor_sizes", anchor_sizes), ("aspect_ratios", aspect_ratios)):
        if values is None:
            out.append(None)
            continue
        items = list(values) if isinstance(values, Sequence | np.ndarray) \
            and not isinstance(values, str) else []
        parsed = [_number(v, 0, None, False, False) for v in items]
        if not items or None in parsed:
            raise ConfigError(f"{name}={values!r}: give a non-empty sequence of positive "
                              f"{examples[name]}; or None to measure them from the training "
                              "boxes.")
        out.append(tuple(parsed))
    return tuple(out)


def box_prior(boxes, *, min_patches: int = 1, scale: float | None = None,
              anchor_sizes=None, aspect_ratios=None) -> BoxPrior:
    """Measure the training boxes and choose the input scale and anchors.

    Parameters
    ----------
    boxes : array_like
        ``(N, 4)`` training boxes ``x0, y0, x1, y1`` in original pixels.
    min_patches : int
        :math:`N`: patches of :data:`GRID_STRIDE` pixels a median source should span.
    scale : float, optional
        A fixed input scale instead of the measured one.
    anchor_sizes, aspect_ratios : sequence of float, optional
        Fixed anchors (pixels of the scaled input) and ratios instead of measured ones.

    Returns
    -------
    BoxPrior

    Raises
    ------
    DatasetError
        No boxes at all: there is nothing to measure or to learn from.
    """
    sizes = box_sizes(boxes)
    if sizes.size == 0:
        raise DatasetError("train: the training images hold no boxes, so there is no source "
                           "to learn from or to measure; annotate some sources.")
    b = np.asarray(boxes, dtype=float).reshape(-1, 4)
    median = float(np.median(sizes))
    if scale is None:
        scale = max(1.0, int(min_patches) * GRID_STRIDE / median)
    scale = check_number("input_scale", scale)
    if anchor_sizes is None:
        lo, mid, hi = np.percentile(sizes * scale, [5, 50, 95])
        lo, hi = min(lo, mid / math.sqrt(2)), max(hi, mid * math.sqrt(2))
        anchor_sizes = np.geomspace(lo, hi, 3)
    anchor_sizes = tuple(round(v, 2) for v in check_anchors(anchor_sizes)[0])
    if aspect_ratios is None:
        ratio = (b[:, 3] - b[:, 1]) / (b[:, 2] - b[:, 0])
        aspect_ratios = sorted({round(float(r), 2) for r in np.percentile(ratio, [10, 50, 90])})
    aspect_ratios = check_anchors(None, aspect_ratios)[1]
    largest = float(np.max(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])))
    return BoxPrior(median, float(scale), anchor_sizes, aspect_ratios, largest)
