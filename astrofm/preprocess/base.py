"""The :class:`Step` base class and the registry that rebuilds steps from dicts.

A step is a callable on an :class:`~astrofm.image.AstroImage` that returns a new
image and never changes its input. Called on a list of images (a batch) it returns a
list, image by image, so a batch gives exactly the result of a loop. Every step has a
plain, JSON-able dict form, ``{"step": "<class name>", **parameters}``, so a trained
model can store the exact preprocessing it was trained with and rebuild it with
:func:`from_dict`.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from astrofm.errors import ConfigError, ImageShapeError, UnknownNameError
from astrofm.image import AstroImage

__all__ = ["Step", "from_dict", "registered_steps"]

_REGISTRY: dict[str, type[Step]] = {}


def registered_steps() -> list[str]:
    """Names of every step class that :func:`from_dict` can rebuild."""
    return sorted(_REGISTRY)


def from_dict(d: dict) -> Step:
    """Rebuild a step (or a :class:`~astrofm.preprocess.Pipeline`) from its dict form.

    Parameters
    ----------
    d : dict
        ``{"step": "<class name>", **parameters}``, as given by :meth:`Step.to_dict`.

    Raises
    ------
    UnknownNameError
        When ``d["step"]`` names no registered step; the message lists the known ones.
    ConfigError
        When ``d`` is not a dict with a ``"step"`` key or its parameters do not fit.
    """
    if not isinstance(d, dict) or "step" not in d:
        raise ConfigError(
            f"a step dict must be a dict with a 'step' key naming the step class; got {d!r}."
        )
    name = d["step"]
    if name not in _REGISTRY:
        raise UnknownNameError(
            f"unknown preprocessing step {name!r}; known steps: {', '.join(registered_steps())}."
        )
    cls = _REGISTRY[name]
    config = {k: v for k, v in d.items() if k != "step"}
    try:
        return cls.from_config(config)
    except TypeError as exc:
        accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise ConfigError(
            f"cannot rebuild {name} from {config!r} ({exc}); {name} accepts: "
            f"{', '.join(accepted)}."
        ) from exc


class Step(ABC):
    """Base class of preprocessing steps.

    Subclasses implement :meth:`apply` (one image in, one image out) and
    :meth:`get_config` (the constructor arguments as plain JSON-able values); the
    class is registered under its name for :func:`from_dict` when it is defined.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def __call__(self, images):
        """Apply the step to one image, or to each image of a list."""
        if isinstance(images, AstroImage):
            return self._apply_checked(images)
        if isinstance(images, Sequence) and not isinstance(images, str | bytes):
            return [self._apply_checked(image) for image in images]
        raise ConfigError(
            f"{type(self).__name__} takes an AstroImage or a list of them; got "
            f"{type(images).__name__}. Load files with astrofm.load first."
        )

    def _apply_checked(self, image):
        if not isinstance(image, AstroImage):
            raise ConfigError(
                f"{type(self).__name__} takes AstroImage items; got {type(image).__name__}."
            )
        if image.data.size == 0:
            raise ImageShapeError(
                f"{image.source}: the image has no pixels (shape {image.shape}); "
                "check the file or the crop that produced it."
            )
        return self.apply(image)

    @abstractmethod
    def apply(self, image: AstroImage) -> AstroImage:
        """The step on one image."""

    @abstractmethod
    def get_config(self) -> dict:
        """Constructor arguments as plain JSON-able values."""

    @classmethod
    def from_config(cls, config: dict) -> Step:
        """Build the step from :meth:`get_config`'s output."""
        return cls(**config)

    def to_dict(self) -> dict:
        """Plain-dict form ``{"step": "<class name>", **parameters}``."""
        return {"step": type(self).__name__, **self.get_config()}

    @classmethod
    def from_dict(cls, d: dict) -> Step:
        """Rebuild a step from :meth:`to_dict`'s output (see :func:`from_dict`)."""
        step = from_dict(d)
        if not isinstance(step, cls):
            raise ConfigError(f"{d.get('step')!r} is not a {cls.__name__}.")
        return step

    def _record(self, image: AstroImage, data, mask=None, geometry=None) -> AstroImage:
        """The next image, with this step appended to its history."""
        return image.with_step(self.to_dict(), data, mask=mask, geometry=geometry)

    def __add__(self, other):
        from astrofm.preprocess.pipeline import Pipeline

        return Pipeline([self]) + other

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    __hash__ = None

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def planes(data: np.ndarray, mask: np.ndarray):
    """Yield ``(data, mask)`` for each 2-D plane: the image itself, or each channel."""
    if data.ndim == 2:
        yield data, mask
    else:
        yield from zip(data, mask, strict=True)


def per_plane(func, data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Apply ``func(plane, plane_mask) -> plane`` to each 2-D plane and restack."""
    if data.ndim == 2:
        return func(data, mask)
    return np.stack([func(d, m) for d, m in planes(data, mask)])


def check_choice(argument: str, value, choices) -> None:
    """UnknownNameError naming ``argument`` when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise UnknownNameError(
            f"unknown {argument} {value!r}; choose one of: {', '.join(map(str, choices))}."
        )


def valid_values(plane: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The unmasked values of a plane, flattened; a view when nothing is masked."""
    return plane[~mask] if mask.any() else plane.ravel()
