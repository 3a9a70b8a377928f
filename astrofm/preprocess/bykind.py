"""A step that picks its preprocessing by the kind of image it meets."""

from __future__ import annotations

from astrofm.errors import ConfigError
from astrofm.preprocess.base import Step, from_dict

__all__ = ["ByKind"]


class ByKind(Step):
    r"""Apply one step to float data and another to 8-bit display images.

    .. math:: y = \begin{cases} s_\mathrm{display}(x) & \text{if } x \text{ is a
              display image (PNG/JPEG)} \\ s_\mathrm{float}(x) & \text{otherwise}
              \end{cases}

    A batch may mix FITS cutouts and PNGs; each gets the preprocessing of its kind, so
    an already stretched 8-bit image is never stretched again.

    Parameters
    ----------
    float : Step or dict
        Applied to float data (FITS, arrays): usually clip, stretch, resize ...
    display : Step or dict
        Applied to display images (``image.display`` True).
    """

    def __init__(self, float, display):  # noqa: A002 - the kinds' names read best here
        self.float = _step(float, "float")
        self.display = _step(display, "display")

    def apply(self, image):
        return (self.display if image.display else self.float).apply(image)

    def get_config(self):
        return {"float": self.float.to_dict(), "display": self.display.to_dict()}


def _step(value, argument):
    if isinstance(value, dict):
        value = from_dict(value)
    if not isinstance(value, Step):
        raise ConfigError(f"ByKind({argument}=...) needs a Step or a step dict; got {value!r}.")
    return value
