"""Making the channels a backbone expects: replicate, three stretches, or chosen bands."""

from __future__ import annotations

import numpy as np

from astrofm.errors import ConfigError
from astrofm.preprocess.base import Step, check_choice, from_dict
from astrofm.preprocess.stretch import Stretch

__all__ = ["ToChannels", "default_channel_stretches"]


def default_channel_stretches():
    """Linear on min-max, sqrt on the 99.5 % interval, asinh on zscale.

    The linear channel keeps bright peaks unsaturated, the asinh/zscale channel lifts
    faint emission out of the noise floor, and the sqrt channel lies between them.
    """
    return [
        Stretch("linear", "minmax"),
        Stretch("sqrt", "percentile", percentile=99.5),
        Stretch("asinh", "zscale"),
    ]


class ToChannels(Step):
    r"""Give the image the channels a backbone expects.

    * ``"replicate"``: a 2-D or one-channel image becomes :math:`n` identical channels,
      :math:`y_c = x` for :math:`c = 1 \dots n` (a read-only view of the one plane);
      an image that already has :math:`n` channels is left as it is.
    * ``"stretches"``: a 2-D or one-channel image becomes one channel per stretch,
      :math:`y_c = S_c(I_c(x))`, each a :class:`~astrofm.preprocess.Stretch` (default:
      :func:`default_channel_stretches`), so faint emission and bright peaks both
      survive 8-bit-like scaling.
    * ``"bands"``: a ``(C, H, W)`` image keeps the channels ``bands`` in that order,
      :math:`y_c = x_{b_c}`.

    Parameters
    ----------
    mode : {"replicate", "stretches", "bands"}
    n : int
        Number of channels for ``"replicate"``.
    stretches : list of Stretch or dict, optional
        The stretches for ``"stretches"``.
    bands : list of int, optional
        Channel indices for ``"bands"``.

    Raises
    ------
    ConfigError
        An image whose channels do not fit the mode, or a band index out of range.
    """

    def __init__(self, mode="replicate", n=3, *, stretches=None, bands=None):
        check_choice("ToChannels mode", mode, ("replicate", "stretches", "bands"))
        if int(n) != n or n < 1:
            raise ConfigError(f"ToChannels n must be a positive int; got {n!r}.")
        self.mode = mode
        self.n = int(n)
        self.stretches = None
        self.bands = None
        if mode == "stretches":
            stretches = default_channel_stretches() if stretches is None else stretches
            self.stretches = [s if isinstance(s, Stretch) else from_dict(s) for s in stretches]
            if not self.stretches or not all(isinstance(s, Stretch) for s in self.stretches):
                raise ConfigError("ToChannels(mode='stretches') needs a list of Stretch steps.")
            self.n = len(self.stretches)
        elif mode == "bands":
            if bands is None or len(bands) == 0:
                raise ConfigError("ToChannels(mode='bands') needs bands=[channel indices].")
            if any(int(b) != b for b in bands):
                raise ConfigError(f"ToChannels bands must be channel indices; got {bands!r}.")
            self.bands = [int(b) for b in bands]
            self.n = len(self.bands)

    def get_config(self):
        config = {"mode": self.mode, "n": self.n}
        if self.stretches is not None:
            config["stretches"] = [s.to_dict() for s in self.stretches]
        if self.bands is not None:
            config["bands"] = list(self.bands)
        return config

    def _single_plane(self, image):
        if image.data.ndim == 2:
            return image.data, image.mask
        if image.data.shape[0] == 1:
            return image.data[0], image.mask[0]
        raise ConfigError(
            f"{image.source}: ToChannels(mode={self.mode!r}) needs a one-channel image; "
            f"this one has shape {image.shape}. Use mode='bands' to pick channels."
        )

    def apply(self, image):
        if self.mode == "replicate":
            if image.data.ndim == 3 and image.data.shape[0] == self.n:
                return self._record(image, image.data, image.mask)
            plane, mask = self._single_plane(image)
            # The channels are one plane seen n times: a read-only broadcast view, not
            # n copies; the next step (Normalize) writes a new array anyway. The mask
            # is shared the same way, as AstroImage.with_step shares any kept mask.
            data = np.broadcast_to(plane, (self.n, *plane.shape))
            return self._record(image, data, np.broadcast_to(mask, data.shape))
        if self.mode == "stretches":
            plane, mask = self._single_plane(image)
            data = np.stack([s.transform(plane, mask, image.source) for s in self.stretches])
            return self._record(image, data, np.broadcast_to(mask, data.shape))
        n_in = image.n_channels
        if any(not -n_in <= b < n_in for b in self.bands):
            raise ConfigError(
                f"{image.source}: ToChannels bands {self.bands} do not fit an image with "
                f"{n_in} channel(s) (shape {image.shape}); indices run from 0 to {n_in - 1}."
            )
        data, mask = image.data, image.mask
        if data.ndim == 2:
            data, mask = data[np.newaxis], mask[np.newaxis]
        # Fancy indexing copies, so the output never shares memory with the input.
        return self._record(image, data[self.bands], mask[self.bands])
