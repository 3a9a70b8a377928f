"""The torch module every backbone is wrapped in: :class:`Backbone`.

One interface over timm, transformers and torchvision models: pooled features, patch
tokens, attention maps and detector feature maps, with the input checked against the
spec. Library adapters (``astrofm.backbones.adapters``) implement a few hooks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from astrofm.backbones.spec import BackboneSpec
from astrofm.errors import BackboneError, ConfigError

__all__ = ["Backbone", "Encoding"]


class Encoding(NamedTuple):
    """One forward pass, before pooling.

    Attributes
    ----------
    prefix : torch.Tensor or None
        (N, P, D) class and register tokens; None when the model has none.
    tokens : torch.Tensor
        (N, L, D) patch tokens (a CNN's final feature map, flattened row by row).
    grid : tuple of int
        (h, w) with h * w == L.
    pooled : torch.Tensor or None
        (N, D) the library's own pooled output, when the spec offers ``pooler``.
    """

    prefix: torch.Tensor | None
    tokens: torch.Tensor
    grid: tuple[int, int]
    pooled: torch.Tensor | None


class Backbone(nn.Module, ABC):
    """A vision model behind one interface, built by :func:`astrofm.backbones.load`.

    The wrapped library module is ``self.model``; its parameters are this module's
    parameters, so freezing, LoRA and optimisers see the library's names (prefixed
    ``model.``). The backbone starts in eval mode, so features are deterministic.

    Parameters
    ----------
    model : torch.nn.Module
        The library model.
    spec : BackboneSpec
        The registered spec; ``self.spec`` is a copy updated to what was actually built
        (a depth or width override changes ``feature_dim``, ``num_blocks`` ...).

    Attributes
    ----------
    weights_origin : str
        Where the weights came from: ``"pretrained"``, a file, or ``"random (seed N)"``;
        set by :func:`astrofm.backbones.load` and recorded in every output.
    """

    def __init__(self, model: nn.Module, spec: BackboneSpec):
        super().__init__()
        self.model = model
        self.spec = spec.replace(**self._describe(spec))
        self.weights_origin = "unknown"
        self.eval()

    # ------------------------------------------------------- adapter hooks
    def _describe(self, spec: BackboneSpec) -> dict:
        """Spec fields as built (feature_dim, num_blocks ...); overridden by adapters."""
        return {}

    @abstractmethod
    def _encode(self, x: torch.Tensor) -> Encoding:
        """One forward pass, before pooling."""

    def _attention(self, x: torch.Tensor, block: int) -> torch.Tensor:
        raise BackboneError(f"backbone {self.spec.name!r} has no attention maps")

    @abstractmethod
    def _intermediate(self, x: torch.Tensor, names: list[str]) -> list[torch.Tensor]:
        """Feature maps of the layers ``names``, in that order."""

    @abstractmethod
    def blocks(self) -> list[nn.Module]:
        """The tuneable blocks, input to output (transformer blocks or CNN stages).

        Returns
        -------
        list of torch.nn.Module
            ``len(blocks()) == spec.num_blocks``; unfreezing the last k of them is
            partial fine-tuning with the same meaning for every backbone.
        """

    def unused_modules(self) -> list[nn.Module]:
        """Modules of the wrapped model that no feature ever runs through.

        An adapter keeps such a module (an ImageNet classifier) when dropping it would
        stop the library's checkpoints from loading. Full tuning leaves them frozen:
        they would never get a gradient, which DDP takes for a bug.

        Returns
        -------
        list of torch.nn.Module
            Empty unless the adapter says otherwise.
        """
        return []

    # ------------------------------------------------------------- public
    def check_input(self, x: torch.Tensor) -> None:
        """Raise ConfigError unless ``x`` is an (N, C, H, W) batch this backbone takes."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ConfigError(
                f"backbone {self.spec.name!r} takes a (N, C, H, W) tensor, not {shape}"
            )
        if x.shape[1] != self.spec.in_channels:
            raise ConfigError(
                f"backbone {self.spec.name!r} takes {self.spec.in_channels}-channel images, "
                f"got {x.shape[1]} channels; map bands to channels during preprocessing"
            )
        self.spec.check_size(int(x.shape[2]), int(x.shape[3]))

    def encode(self, x: torch.Tensor) -> Encoding:
        """Run the model once and return prefix tokens, patch tokens and pooled output.

        Parameters
        ----------
        x : torch.Tensor
            (N, C, H, W) normalised images.

        Returns
        -------
        Encoding
        """
        self.check_input(x)
        return self._encode(x)

    def pool(self, encoding: Encoding, pooling: str | None = None) -> torch.Tensor:
        """Pool an :class:`Encoding` (see :meth:`features`)."""
        pooling = self._check_pooling(pooling)
        if pooling == "tokens":
            return encoding.tokens
        if pooling == "pooler":
            return encoding.pooled
        if pooling == "mean":
            return encoding.tokens.mean(dim=1)
        cls = encoding.prefix[:, 0]
        if pooling == "cls":
            return cls
        return torch.cat([cls, encoding.tokens.mean(dim=1)], dim=-1)

    def features(self, x: torch.Tensor, pooling: str | None = None) -> torch.Tensor:
        """Feature vectors of a batch.

        Parameters
        ----------
        x : torch.Tensor
            (N, C, H, W) normalised images.
        pooling : str, optional
            One of ``spec.poolings``; ``spec.default_pooling`` when omitted.

        Returns
        -------
        torch.Tensor
            (N, D) for ``cls``, ``mean`` and ``pooler``; (N, 2D) for ``cls+mean``;
            (N, L, D) patch tokens for ``tokens``.
        """
        self._check_pooling(pooling)
        return self.pool(self.encode(x), pooling)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Default-pooled features and patch tokens in one pass.

        Returns
        -------
        dict
            ``{"features": (N, D), "tokens": (N, L, D)}``.
        """
        encoding = self.encode(x)
        return {"features": self.pool(encoding), "tokens": encoding.tokens}

    def patch_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(N, L, D) patch tokens, without class or register tokens."""
        return self.encode(x).tokens

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D, h, w) patch tokens laid out on their grid (a CNN's final feature map)."""
        encoding = self.encode(x)
        n, _, d = encoding.tokens.shape
        return encoding.tokens.transpose(1, 2).reshape(n, d, *encoding.grid)

    def attention(self, x: torch.Tensor, block: int = -1) -> torch.Tensor:
        """Softmax attention weights of one transformer block.

        Parameters
        ----------
        x : torch.Tensor
            (N, C, H, W) normalised images.
        block : int
            Block index; negative counts from the last block.

        Returns
        -------
        torch.Tensor
            (N, heads, T, T) over all T = P + L tokens, prefix tokens first.
        """
        if not self.spec.has_attention:
            raise BackboneError(
                f"backbone {self.spec.name!r} ({self.spec.family}) has no attention maps"
            )
        self.check_input(x)
        return self._attention(x, self._block_index(block))

    def cls_attention(self, x: torch.Tensor, block: int = -1) -> torch.Tensor:
        """Attention of the class token to every patch, per head, on the patch grid.

        Returns
        -------
        torch.Tensor
            (N, heads, h, w). The weights given to prefix tokens are left out, so a map
            sums to at most 1.
        """
        if not self.spec.has_cls_token:
            raise BackboneError(
                f"backbone {self.spec.name!r} has no class token; use attention(x) and "
                f"average over query tokens instead"
            )
        attn = self.attention(x, block)
        h, w = self.spec.token_grid(int(x.shape[2]), int(x.shape[3]))
        cls = attn[:, :, 0, self.spec.num_prefix_tokens:]
        return cls.reshape(attn.shape[0], attn.shape[1], h, w)

    def intermediate(
        self, x: torch.Tensor, layers: list[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Feature maps that feed a detector.

        Parameters
        ----------
        x : torch.Tensor
            (N, C, H, W) normalised images.
        layers : list of str, optional
            Layer names (``"layer3"``, ``"blocks.5"``); ``spec.detector_layers`` by default.

        Returns
        -------
        dict of str to torch.Tensor
            Name to (N, C, H / stride, W / stride) map, in the order asked.
        """
        self.check_input(x)
        names = [layer.name for layer in self.spec.detector_layers] if layers is None else [
            str(n) for n in layers
        ]
        if not names:
            raise BackboneError(f"backbone {self.spec.name!r} declares no detector layers")
        return dict(zip(names, self._intermediate(x, names), strict=True))

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (of those with ``requires_grad`` when asked)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def save_weights(self, path: str | Path) -> Path:
        """Write the library model's state dict to a ``.safetensors`` file.

        The file loads back with ``astrofm.backbones.load(name, weights=path)`` and
        with the library itself.
        """
        from safetensors.torch import save_file

        path = Path(path)
        if path.suffix != ".safetensors":
            raise ConfigError(f"save_weights writes .safetensors files, not {path.name!r}")
        state = {k: v.detach().contiguous().cpu() for k, v in self.model.state_dict().items()}
        save_file(state, str(path), metadata={"astrofm_backbone": self.spec.name})
        return path

    def extra_repr(self) -> str:
        return f"name={self.spec.name!r}, library={self.spec.library!r}"

    # ------------------------------------------------------------ helpers
    def _check_pooling(self, pooling: str | None) -> str:
        pooling = pooling or self.spec.default_pooling
        if pooling not in self.spec.poolings:
            raise ConfigError(
                f"backbone {self.spec.name!r} offers poolings {list(self.spec.poolings)}, "
                f"not {pooling!r}"
            )
        return pooling

    def _block_index(self, block: int) -> int:
        n = self.spec.num_blocks
        if not -n <= int(block) < n:
            raise ConfigError(
                f"backbone {self.spec.name!r} has {n} blocks; block {block} is out of range"
            )
        return int(block) % n

    def _layer_index(self, name: str, prefix: str) -> int:
        """Block index of a layer name such as ``"blocks.11"`` (negative indices allowed)."""
        head, _, index = name.rpartition(".")
        if head != prefix or not index.lstrip("-").isdigit():
            raise ConfigError(
                f"backbone {self.spec.name!r}: unknown layer {name!r}; layers are named "
                f"'{prefix}.<i>' for i in 0..{self.spec.num_blocks - 1}"
            )
        return self._block_index(int(index))
