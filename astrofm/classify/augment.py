"""Data augmentation suited to sky images, on batches of model-ready tensors.

The sky has no up, no left and no preferred handedness, so flips and 90-degree
rotations give equally valid images; small shifts move the source off the exact
centre, as real cutouts do. Nothing is interpolated, so noise and point sources keep
their pixel statistics (an arbitrary-angle rotation would smooth them).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from astrofm.errors import ConfigError

__all__ = ["SkyAugment"]


class SkyAugment(nn.Module):
    """Random flips, 90-degree rotations and small shifts, drawn per image.

    Active in training mode only; in eval mode the batch passes unchanged.

    Parameters
    ----------
    flips : bool
        Flip left-right and up-down, each with probability 1/2.
    rotations : bool
        Rotate by k x 90 degrees, k uniform in 0..3 (square images only; other
        shapes keep their orientation).
    shift : float
        Largest shift as a fraction of the side; the image is shifted by a whole number
        of pixels in each axis, and the pixels it uncovers repeat the edge by
        reflection.
    """

    def __init__(self, flips: bool = True, rotations: bool = True, shift: float = 0.1):
        super().__init__()
        if not 0 <= shift < 0.5:
            raise ConfigError(f"shift={shift!r}: give a fraction of the side in [0, 0.5).")
        self.flips, self.rotations, self.shift = bool(flips), bool(rotations), float(shift)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        n, _, h, w = x.shape
        device = x.device
        if self.flips:
            x = torch.where(torch.rand(n, 1, 1, 1, device=device) < 0.5, x.flip(3), x)
            x = torch.where(torch.rand(n, 1, 1, 1, device=device) < 0.5, x.flip(2), x)
        if self.rotations and h == w:
            k = torch.randint(0, 4, (n,), device=device)
            x = torch.stack([torch.rot90(img, int(r), dims=(1, 2)) for img, r in zip(x, k,
                                                                                   strict=True)])
        dy, dx = int(self.shift * h), int(self.shift * w)
        if dy or dx:
            padded = F.pad(x, (dx, dx, dy, dy), mode="reflect")
            oy = torch.randint(0, 2 * dy + 1, (n,)).tolist()
            ox = torch.randint(0, 2 * dx + 1, (n,)).tolist()
            x = torch.stack([padded[i, :, oy[i]:oy[i] + h, ox[i]:ox[i] + w] for i in range(n)])
        return x

    def config(self) -> dict:
        """The settings, as keyword arguments."""
        return {"flips": self.flips, "rotations": self.rotations, "shift": self.shift}
