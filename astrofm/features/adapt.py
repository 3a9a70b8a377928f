"""``astrofm.adapt``: data made ready for a backbone, with its provenance."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from astrofm.errors import ConfigError
from astrofm.image import AstroImage

__all__ = [
    "adapt", "Adapted", "default_preprocessing", "cached_backbone", "resolve_model", "as_items",
]


def default_preprocessing(spec, size=None, replace: Mapping | None = None, insert=()):
    """The default preprocessing for a backbone, chosen per image by kind of data.

    Float data (FITS, arrays) are sigma-clipped and asinh-stretched on a zscale
    interval; 8-bit display images are only scaled to [0, 1]. Both are then resized to
    ``size`` (a side the backbone allows), given the backbone's channels and
    normalised with its mean and std; see :func:`astrofm.preprocess.default_pipeline`.

    Parameters
    ----------
    spec : BackboneSpec or str
        The backbone (or its registry name).
    size : int, optional
        Input side; default ``spec.input_size``. Rounded to what the backbone allows.
    replace : mapping of str to Step or None, optional
        Steps to swap by class name, e.g. ``{"Stretch": Stretch("sqrt", "minmax")}``;
        None removes the step. Applied to both kinds of data where the step occurs.
    insert : sequence of Step, optional
        Steps put just before the resize, for both kinds of data: a close crop such as
        :class:`~astrofm.preprocess.CropToSource` goes here, so that the crop is made
        on the full-resolution image and recorded in the geometry.

    Returns
    -------
    astrofm.preprocess.ByKind
    """
    from astrofm import backbones
    from astrofm.preprocess import Pipeline, default_pipeline
    from astrofm.preprocess.bykind import ByKind

    spec = backbones.get(spec) if isinstance(spec, str) else spec
    side = spec.valid_size(size if size is not None else spec.input_size)
    common = dict(patch_size=spec.patch_size, size=side, mean=spec.mean, std=spec.std,
                  channels=spec.in_channels)
    kinds = {kind: default_pipeline(kind, **common) for kind in ("float", "display")}
    if replace:
        known = {type(s).__name__ for p in kinds.values() for s in p}
        unknown = sorted(set(replace) - known)
        if unknown:
            raise ConfigError(
                f"replace={dict(replace)!r}: the default preprocessing has no step "
                f"{unknown}; its steps are {sorted(known)}. Pass preprocessing= to give "
                "a whole pipeline instead."
            )
        kinds = {kind: Pipeline(_swapped(pipe, replace)) for kind, pipe in kinds.items()}
    if insert:
        kinds = {kind: Pipeline(_inserted(pipe, insert)) for kind, pipe in kinds.items()}
    return ByKind(**kinds)


def _inserted(pipeline, steps):
    from astrofm.preprocess import ResizeForPatch

    for step in pipeline:
        if isinstance(step, ResizeForPatch):
            yield from steps
        yield step


def _swapped(pipeline, replace):
    for step in pipeline:
        new = replace.get(type(step).__name__, step)
        if new is not None:
            yield new


@functools.lru_cache(maxsize=4)
def _backbone(name: str, weights):
    from astrofm import backbones

    return backbones.load(name, weights=weights)


def cached_backbone(name: str, weights="pretrained"):
    """The backbone ``name`` with ``weights``, built once per process and reused.

    Parameters
    ----------
    name : str
        Registry name.
    weights : "pretrained", path, None or "random"
        As for :func:`astrofm.backbones.load`.
    """
    from astrofm.backbones.weights import resolve_weights

    resolved = resolve_weights(weights)
    key = os.fspath(resolved) if isinstance(resolved, os.PathLike) else resolved
    return _backbone(name, key)


def resolve_model(model, weights="pretrained"):
    """The spec of ``model`` and, when ``model`` is a built backbone, the backbone.

    Parameters
    ----------
    model : str or Backbone
        A registry name, or a module from :func:`astrofm.backbones.load` (for instance
        one built with options, or fine-tuned).
    weights : "pretrained", path, None or "random"
        Weights for a name; must be left at its default with a built backbone.

    Returns
    -------
    spec : BackboneSpec
    backbone : Backbone or None
    """
    from astrofm import backbones

    if isinstance(model, str):
        return backbones.get(model), None
    spec = getattr(model, "spec", None)
    if spec is None or not hasattr(model, "features"):
        raise ConfigError(f"model={type(model).__name__}: give a backbone name from "
                          "astrofm.backbones.list() or a module from astrofm.backbones.load().")
    if weights != "pretrained":
        raise ConfigError(f"weights={weights!r} applies to a backbone name; a built backbone "
                          "already holds its weights: leave weights= out.")
    return spec, model


def as_items(data) -> list:
    """One input or a list of inputs, as a list (a tuple or list means many)."""
    if isinstance(data, list | tuple):
        if not data:
            raise ConfigError("no input was given: pass a path, an array or a list of them.")
        return list(data)
    return [data]


@dataclass
class Adapted:
    """A batch made ready for a backbone by :func:`adapt`.

    Attributes
    ----------
    tensor : torch.Tensor
        ``(N, C, H, W)`` model-ready input.
    images : list of AstroImage
        The processed images; each keeps its history, geometry and WCS.
    spec : BackboneSpec
        The backbone the batch was made for.
    preprocessing : Step
        The preprocessing applied (its ``to_dict()`` rebuilds it).
    weights : "pretrained", path, None or "random"
        Weights the backbone is built with for :meth:`features` and :meth:`attention`.
    """

    tensor: torch.Tensor
    images: list
    spec: object
    preprocessing: object
    weights: object = "pretrained"
    _backbone: object = field(default=None, repr=False)

    def __len__(self):
        return len(self.images)

    @property
    def meta(self) -> list[dict]:
        """Per-image provenance: source, HDU, steps with their parameters, geometry."""
        return [{
            "source": im.source,
            "hdu": im.hdu,
            "original_shape": list(im.original_shape),
            "steps": list(im.history),
            "geometry": im.geometry.to_dict(),
            "has_wcs": im.original_wcs is not None,
        } for im in self.images]

    @property
    def backbone(self):
        """The backbone module (built once per process for a name and weights)."""
        if self._backbone is None:
            self._backbone = cached_backbone(self.spec.name, self.weights)
        return self._backbone

    def features(self, pooling: str | None = None, batch_size: int = 32) -> torch.Tensor:
        """Feature vectors ``(N, D)`` (or tokens ``(N, L, D)``) of the batch.

        Parameters
        ----------
        pooling : str, optional
            One of ``spec.poolings``; the spec's default when omitted.
        batch_size : int
            Images per forward pass.
        """
        with torch.inference_mode():
            parts = [self.backbone.features(chunk, pooling=pooling)
                     for chunk in self.tensor.split(batch_size)]
        return torch.cat(parts)

    def attention(self, block: int = -1):
        """Per-head attention of the class token from one block (ViTs).

        Returns
        -------
        AttentionMaps
            Maps on the model input, which map back to each original image.
        """
        from astrofm.features.attention import AttentionMaps

        with torch.inference_mode():
            maps = self.backbone.cls_attention(self.tensor, block=block)
        return AttentionMaps.from_patch_grid(maps, self.images, block=block % self.spec.num_blocks)

    def to_original(self, boxes, index: int = 0) -> np.ndarray:
        """Boxes ``(N, 4)`` on the model input of image ``index``, in its original pixels."""
        return self.images[index].to_original(boxes)

    def to_sky(self, x, y, index: int = 0):
        """Sky positions of points on the model input of image ``index``."""
        return self.images[index].to_sky(x, y)


def adapt(data, model: str = "dinov2", *, size: int | None = None, preprocessing=None,
          replace: Mapping | None = None, weights="pretrained", hdu=None,
          plane=None) -> Adapted:
    """Make astronomical images ready for a backbone, in one call.

    Parameters
    ----------
    data : path, array, HDU, NDData, AstroImage, or a list of them
        What :func:`astrofm.load` takes; a list or tuple is several images.
    model : str or Backbone
        Registry name of the backbone (see :func:`astrofm.backbones.list`), or a
        backbone module already built with :func:`astrofm.backbones.load`.
    size : int, optional
        Input side; default: the backbone's (``spec.input_size``).
    preprocessing : Step, optional
        A whole preprocessing to use instead of the default (it must give images of
        one size and the backbone's channels).
    replace : mapping, optional
        Steps of the default preprocessing to swap or drop by class name; see
        :func:`default_preprocessing`.
    weights : "pretrained", path, None or "random"
        Weights used by :meth:`Adapted.features` and :meth:`Adapted.attention`:
        the published ones by default (see :func:`astrofm.backbones.load`); random
        initialisation only when asked for with None or ``"random"``.
    hdu, plane : optional
        Passed to :func:`astrofm.load` for every input.

    Returns
    -------
    Adapted

    Examples
    --------
    >>> batch = astrofm.adapt("cutout.fits", model="dinov2")    # doctest: +SKIP
    >>> batch.tensor.shape, batch.meta[0]["steps"][1]["step"]     # doctest: +SKIP
    (torch.Size([1, 3, 224, 224]), 'Stretch')
    """
    from astrofm.io import load
    from astrofm.preprocess import to_tensor

    spec, backbone = resolve_model(model, weights)
    if preprocessing is not None and (size is not None or replace):
        raise ConfigError("give either preprocessing= or size=/replace=, not both: size and "
                          "replace change the default preprocessing.")
    images = [x if isinstance(x, AstroImage) else load(x, hdu=hdu, plane=plane)
              for x in as_items(data)]
    if preprocessing is None:
        preprocessing = default_preprocessing(spec, size=size, replace=replace)
    processed = preprocessing(images)
    tensor = to_tensor(processed)
    spec.check_size(int(tensor.shape[2]), int(tensor.shape[3]))
    if tensor.shape[1] != spec.in_channels:
        raise ConfigError(
            f"the preprocessing gives {tensor.shape[1]} channel(s) but {spec.name!r} takes "
            f"{spec.in_channels}; end it with ToChannels and Normalize."
        )
    return Adapted(tensor, processed, spec, preprocessing, weights, backbone)
