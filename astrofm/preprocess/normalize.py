"""Per-channel standardisation with a backbone's mean and std."""

from __future__ import annotations

import numpy as np

from astrofm.errors import ConfigError
from astrofm.preprocess.base import Step

__all__ = ["Normalize"]


def _values(value, name):
    """A tuple of finite floats from a scalar or a sequence."""
    values = tuple(float(v) for v in np.atleast_1d(np.asarray(value, dtype=float)).ravel())
    if not values or not all(np.isfinite(values)):
        raise ConfigError(f"Normalize {name} must be finite numbers; got {value!r}.")
    return values


class Normalize(Step):
    r"""Standardise each channel: :math:`y_c = (x_c - \mu_c) / \sigma_c`.

    Parameters
    ----------
    mean, std : float or sequence of float
        :math:`\mu_c` and :math:`\sigma_c`: one value for every channel, or one per
        channel (for example ImageNet's ``(0.485, 0.456, 0.406)`` and
        ``(0.229, 0.224, 0.225)``).

    Raises
    ------
    ConfigError
        A zero std, or a number of values that does not match the image's channels.
    """

    def __init__(self, mean=0.0, std=1.0):
        self.mean = _values(mean, "mean")
        self.std = _values(std, "std")
        if any(s == 0 for s in self.std):
            raise ConfigError(f"Normalize std must not be 0 (it divides); got {std!r}.")
        if len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std)):
            raise ConfigError(
                f"Normalize mean and std have {len(self.mean)} and {len(self.std)} values; "
                "give one value or one per channel for each."
            )

    def get_config(self):
        scalar = len(self.mean) == len(self.std) == 1
        if scalar:
            return {"mean": self.mean[0], "std": self.std[0]}
        return {"mean": list(self.mean), "std": list(self.std)}

    def _per_channel(self, values, n, source):
        if len(values) == 1:
            return np.float32(values[0])
        if len(values) != n:
            raise ConfigError(
                f"{source}: Normalize has {len(values)} values per channel but the image has "
                f"{n} channel(s); add ToChannels before Normalize or give matching mean/std."
            )
        return np.asarray(values, dtype=np.float32).reshape(n, 1, 1)

    def apply(self, image):
        n = image.n_channels
        mean = self._per_channel(self.mean, n, image.source)
        scale = np.float32(1.0) / self._per_channel(self.std, n, image.source)
        out = np.subtract(image.data, mean, dtype=np.float32)
        out *= scale
        return self._record(image, out)
