"""What a backbone expects as input and gives back: :class:`BackboneSpec`.

A spec is a cheap, import-free declaration (no torch, no timm): the registry can list
hundreds of them without building a model. Preprocessing reads the spec to size and
normalise images, so no caller has to know that DINOv2 patches are 14 px wide.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib import import_module
from types import MappingProxyType
from typing import Any

from astrofm.errors import BackboneError, ConfigError
from astrofm.runtime import positive_int

__all__ = [
    "BackboneSpec",
    "FeatureLayer",
    "POOLINGS",
    "SIZE_RULES",
    "LIBRARIES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CLIP_MEAN",
    "CLIP_STD",
    "HALF",
    "vit_spec",
]

#: Every pooling a backbone may offer. ``cls``: the class token; ``mean``: the mean of the
#: patch tokens (or of the final feature map of a CNN); ``cls+mean``: both concatenated
#: (twice the feature dimension); ``pooler``: the library's own pooled output (SigLIP's
#: attention-pool head, a CNN's global pool); ``tokens``: every patch token, (N, L, D).
POOLINGS = ("cls", "mean", "cls+mean", "pooler", "tokens")

#: ``multiple_of_patch``: height and width must be multiples of the patch size (position
#: embeddings are interpolated); ``any``: any size of at least ``min_size`` (CNNs).
SIZE_RULES = ("multiple_of_patch", "any")

LIBRARIES = ("timm", "transformers", "torchvision")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF = (0.5, 0.5, 0.5)

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-.+")


@dataclass(frozen=True)
class FeatureLayer:
    """One intermediate output that can feed a detector.

    Parameters
    ----------
    name : str
        Module path inside the library model (``"layer3"``, ``"stages.2"``,
        ``"blocks.11"``); the key of :meth:`Backbone.intermediate`'s result.
    channels : int
        Channels of the feature map.
    stride : int
        Input pixels per feature-map pixel.
    """

    name: str
    channels: int
    stride: int


@dataclass(frozen=True)
class BackboneSpec:
    """Declaration of one backbone: how to build it and what its input must look like.

    Parameters
    ----------
    name : str
        Registry name, lower case (``"dinov2-base"``).
    family : str
        Model family (``"dinov2"``, ``"resnet"``).
    builder : callable or str
        ``builder(spec, weights, **options) -> Backbone``, or its ``"module:function"``
        path so that declaring a spec imports nothing.
    library : {"timm", "transformers", "torchvision"}
        Library that implements the architecture.
    arch : str
        What the library instantiates offline: a timm model name, a transformers model
        type, a torchvision function name.
    hub_id : str or None
        Where ``weights="pretrained"`` comes from: the timm pretrained name, the Hugging
        Face repository, or the torchvision weights enum (``"ResNet50_Weights.IMAGENET1K_V2"``).
    native_size : int
        Input size the published weights were trained at.
    feature_dim : int
        Dimension D of one pooled feature vector (``cls``, ``mean``, ``pooler``) and of
        one token.
    num_blocks : int
        Number of tuneable blocks in :meth:`Backbone.blocks` order (transformer blocks,
        CNN stages), so partial unfreezing means the same for every backbone.
    patch_size : int or None
        Patch size of a ViT; None for CNNs.
    size_rule : {"multiple_of_patch", "any"}
        Which input sizes are allowed; see :data:`SIZE_RULES`.
    min_size : int or None
        Smallest allowed input side; defaults to the patch size, or 32 for CNNs.
    default_size : int or None
        Size preprocessing uses unless told otherwise; None means ``native_size``.
    in_channels : int
        Input channels.
    mean, std : tuple of float
        Per-channel normalisation of inputs scaled to [0, 1]: ``(x - mean) / std``.
    poolings : tuple of str
        Poolings :meth:`Backbone.features` accepts, a subset of :data:`POOLINGS`.
    default_pooling : str
        Pooling used when none is given.
    has_attention : bool
        Whether :meth:`Backbone.attention` is available.
    num_heads : int or None
        Attention heads per block (ViTs).
    num_prefix_tokens : int
        Tokens before the patch tokens: class token plus registers.
    detector_layers : tuple of FeatureLayer
        Intermediate outputs that feed a detector, shallow to deep.
    aliases : tuple of str
        Short names that resolve to this spec (``"dinov2"``).
    license : str
        License of the published weights.
    description : str
        One line for people.
    extra : mapping
        Anything else a family needs (read-only).
    """

    name: str
    family: str
    builder: Callable[..., Any] | str
    library: str
    arch: str
    hub_id: str | None
    native_size: int
    feature_dim: int
    num_blocks: int
    patch_size: int | None = None
    size_rule: str = "any"
    min_size: int | None = None
    default_size: int | None = None
    in_channels: int = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    poolings: tuple[str, ...] = ("pooler", "mean", "tokens")
    default_pooling: str = "pooler"
    has_attention: bool = False
    num_heads: int | None = None
    num_prefix_tokens: int = 0
    detector_layers: tuple[FeatureLayer, ...] = ()
    aliases: tuple[str, ...] = ()
    license: str = ""
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        # Frozen: normalise through object.__setattr__ so lists given by a plugin
        # become tuples and ``extra`` cannot be mutated behind the registry's back.
        for name in ("mean", "std"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        for name in ("poolings", "aliases", "detector_layers"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))
        if self.min_size is None:
            object.__setattr__(self, "min_size", self.patch_size or 32)
        self._validate()

    def __reduce__(self):
        # The read-only view of ``extra`` cannot be pickled or deep-copied; rebuilding
        # from the fields lets a Backbone be copied (Classifier tunes a copy of a built
        # one) and sent to DataLoader workers or spawned processes.
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["extra"] = dict(self.extra)
        return _rebuild_spec, (values,)

    def __hash__(self):
        # Equality compares every field; the name alone is a consistent hash for it.
        return hash(self.name)

    def _validate(self):
        def bad(message):
            raise ConfigError(f"backbone spec {self.name!r}: {message}")

        if not isinstance(self.name, str) or not self.name or set(self.name) - _NAME_CHARS:
            bad("name must be non-empty lower case letters, digits, '-', '.' or '+'")
        for alias in self.aliases:
            if not isinstance(alias, str) or not alias or set(alias) - _NAME_CHARS:
                bad(f"alias {alias!r} must be lower case letters, digits, '-', '.' or '+'")
        if self.library not in LIBRARIES:
            bad(f"library {self.library!r} is not one of {LIBRARIES}")
        if not (callable(self.builder) or (isinstance(self.builder, str) and ":" in self.builder)):
            bad("builder must be a callable or a 'module:function' string")
        if self.size_rule not in SIZE_RULES:
            bad(f"size_rule {self.size_rule!r} is not one of {SIZE_RULES}")
        if self.size_rule == "multiple_of_patch" and not self.patch_size:
            bad("size_rule 'multiple_of_patch' needs a patch_size")
        for name in ("native_size", "feature_dim", "in_channels", "min_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                bad(f"{name} must be a positive integer, not {value!r}")
        if not isinstance(self.num_blocks, int) or self.num_blocks < 0:
            bad(f"num_blocks must be a non-negative integer, not {self.num_blocks!r}")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            bad(f"mean and std need one value per input channel ({self.in_channels})")
        if any(s <= 0 for s in self.std):
            bad("std values must be positive")
        unknown = set(self.poolings) - set(POOLINGS)
        if not self.poolings or unknown:
            bad(f"poolings must be a non-empty subset of {POOLINGS}; unknown: {sorted(unknown)}")
        if self.default_pooling not in self.poolings:
            bad(f"default_pooling {self.default_pooling!r} is not in poolings {self.poolings}")
        if {"cls", "cls+mean"} & set(self.poolings) and self.num_prefix_tokens < 1:
            bad("'cls' pooling needs a class token (num_prefix_tokens >= 1)")
        if not all(isinstance(layer, FeatureLayer) for layer in self.detector_layers):
            bad("detector_layers must be FeatureLayer instances")

    # ------------------------------------------------------------------ sizes
    @property
    def is_vit(self) -> bool:
        """True for patch-based transformers (a patch size is declared)."""
        return self.patch_size is not None

    @property
    def has_cls_token(self) -> bool:
        """True when the first prefix token is a class token (``cls`` pooling exists)."""
        return "cls" in self.poolings

    @property
    def input_size(self) -> int:
        """The size preprocessing uses by default: ``default_size`` or ``native_size``."""
        return self.default_size or self.native_size

    def valid_size(self, size: int) -> int:
        """The allowed input side nearest to ``size``.

        Parameters
        ----------
        size : int
            Wanted side length in pixels.

        Returns
        -------
        int
            ``size`` rounded to the nearest multiple of the patch size (half rounds up)
            for ViTs, ``size`` itself for CNNs; never below ``min_size``.

        Raises
        ------
        ConfigError
            For a size that is not a positive whole number, which no rounding mends.
        """
        size = positive_int(size, "size")
        if self.size_rule == "multiple_of_patch":
            size = int(math.floor(size / self.patch_size + 0.5)) * self.patch_size
        return max(size, self.min_size)

    def check_size(self, height: int, width: int | None = None) -> None:
        """Raise :class:`~astrofm.errors.ConfigError` unless the size is allowed.

        Parameters
        ----------
        height, width : int
            Input size; ``width`` defaults to ``height``.
        """
        width = height if width is None else width
        for side in (height, width):
            if side < self.min_size or (
                self.size_rule == "multiple_of_patch" and side % self.patch_size
            ):
                rule = (
                    f"a multiple of the patch size {self.patch_size}"
                    if self.size_rule == "multiple_of_patch"
                    else "any size"
                )
                raise ConfigError(
                    f"backbone {self.name!r} cannot take a {height}x{width} input: each side "
                    f"must be {rule}, at least {self.min_size} px; the nearest allowed side "
                    f"to {side} is {self.valid_size(side)} (spec.valid_size)"
                )

    def token_grid(self, height: int, width: int | None = None) -> tuple[int, int]:
        """Patch tokens per column and row for an input of this size (ViTs only).

        Parameters
        ----------
        height, width : int
            Input size; ``width`` defaults to ``height``.

        Returns
        -------
        tuple of int
            ``(height // patch_size, width // patch_size)``.
        """
        if not self.is_vit:
            raise ConfigError(f"backbone {self.name!r} is a CNN; it has no patch-token grid")
        width = height if width is None else width
        self.check_size(height, width)
        return height // self.patch_size, width // self.patch_size

    def pooled_dim(self, pooling: str | None = None) -> int:
        """Length of one feature vector for ``pooling`` (twice D for ``cls+mean``)."""
        pooling = pooling or self.default_pooling
        return 2 * self.feature_dim if pooling == "cls+mean" else self.feature_dim

    # --------------------------------------------------------------- building
    def resolve_builder(self) -> Callable[..., Any]:
        """The builder as a callable, importing its module if it was given as a path."""
        if callable(self.builder):
            return self.builder
        module_name, _, attr = self.builder.partition(":")
        try:
            return getattr(import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise BackboneError(
                f"backbone {self.name!r}: cannot import its builder {self.builder!r}: {exc}"
            ) from exc

    def replace(self, **changes) -> BackboneSpec:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly fields, for provenance records."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "builder" and callable(value):
                value = f"{value.__module__}:{value.__qualname__}"
            elif f.name == "detector_layers":
                value = [dataclasses.asdict(layer) for layer in value]
            elif f.name == "extra":
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def vit_spec(
    *,
    name: str,
    family: str,
    builder: Callable[..., Any] | str,
    arch: str,
    patch_size: int,
    native_size: int,
    feature_dim: int,
    depth: int,
    num_heads: int,
    num_prefix_tokens: int = 1,
    library: str = "timm",
    hub_id: str | None = None,
    block_prefix: str = "blocks",
    poolings: Sequence[str] = ("cls", "mean", "cls+mean", "tokens"),
    default_pooling: str = "cls",
    **fields,
) -> BackboneSpec:
    """A :class:`BackboneSpec` with the fields every ViT shares filled in.

    The detector is fed from the last block (a ViTDet-style simple feature pyramid is
    built on it), at the patch stride. ``hub_id`` defaults to ``arch``; the remaining
    keyword arguments are passed to :class:`BackboneSpec`.
    """
    return BackboneSpec(
        name=name,
        family=family,
        builder=builder,
        library=library,
        arch=arch,
        hub_id=arch if hub_id is None else hub_id,
        patch_size=patch_size,
        size_rule="multiple_of_patch",
        native_size=native_size,
        feature_dim=feature_dim,
        num_blocks=depth,
        num_heads=num_heads,
        num_prefix_tokens=num_prefix_tokens,
        has_attention=True,
        poolings=tuple(poolings),
        default_pooling=default_pooling,
        detector_layers=(FeatureLayer(f"{block_prefix}.{depth - 1}", feature_dim, patch_size),),
        **fields,
    )


def _rebuild_spec(values: dict) -> BackboneSpec:
    """A :class:`BackboneSpec` from its fields (what ``BackboneSpec.__reduce__`` stores)."""
    return BackboneSpec(**values)
