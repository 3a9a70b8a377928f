"""Display stretches: an astropy interval maps data to [0, 1], an astropy stretch reshapes it."""

from __future__ import annotations

import numpy as np
from astropy import visualization as vis

from astrofm.errors import ConfigError, ImageValueError
from astrofm.preprocess.base import Step, check_choice, per_plane

__all__ = ["Stretch", "STRETCHES", "INTERVALS"]

#: Stretch name -> (astropy class, the parameters it takes).
STRETCHES = {
    "linear": (vis.LinearStretch, ("slope", "intercept")),
    "sqrt": (vis.SqrtStretch, ()),
    "log": (vis.LogStretch, ("a",)),
    "asinh": (vis.AsinhStretch, ("a",)),
    "sinh": (vis.SinhStretch, ("a",)),
    "power": (vis.PowerStretch, ("a",)),
    "histeq": (vis.HistEqStretch, ()),
}

#: Interval name -> (astropy class, the parameters it takes).
INTERVALS = {
    "minmax": (vis.MinMaxInterval, ()),
    "percentile": (vis.PercentileInterval, ("percentile", "n_samples")),
    "asymmetric": (
        vis.AsymmetricPercentileInterval,
        ("lower_percentile", "upper_percentile", "n_samples"),
    ),
    "zscale": (
        vis.ZScaleInterval,
        ("n_samples", "contrast", "max_reject", "min_npixels", "krej", "max_iterations"),
    ),
    "manual": (vis.ManualInterval, ("vmin", "vmax")),
}

# Interval parameters with a default of ours; stretch parameters astropy has no default for.
_DEFAULTS = {"percentile": {"percentile": 99.5}}
_REQUIRED = {"power": ("a",)}


def _from_object(obj, table, what):
    """(name, params) of a ready-made astropy stretch or interval object."""
    for name, (cls, keys) in table.items():
        if type(obj) is cls:
            if name == "histeq":
                raise ConfigError(
                    "a HistEqStretch object is built from one image's data; pass "
                    "kind='histeq' so each image is equalised on its own histogram."
                )
            params = {k: getattr(obj, k) for k in keys if k in vars(obj)}
            if name == "percentile":
                params["percentile"] = obj.upper_percentile - obj.lower_percentile
            return name, {k: _plain(v) for k, v in params.items() if v is not None}
    raise ConfigError(
        f"{what} {type(obj).__name__} is not one Stretch can serialise; use one of "
        f"{', '.join(cls.__name__ for cls, _ in table.values())} or a name "
        f"({', '.join(table)})."
    )


def _plain(value):
    """A JSON-able Python scalar from a numpy scalar."""
    return value.item() if isinstance(value, np.generic) else value


class Stretch(Step):
    r"""Scale data to [0, 1] with an astropy interval, then apply an astropy stretch.

    For each channel, with limits :math:`v_\min, v_\max` from the interval computed on
    the valid (unmasked) pixels,

    .. math:: y = S\left(\mathrm{clip}\left(\frac{x - v_\min}{v_\max - v_\min},
              0, 1\right)\right),

    where :math:`S` is the stretch, for example :math:`S(u) = \mathrm{asinh}(u/a) /
    \mathrm{asinh}(1/a)` for ``"asinh"``. The output lies in [0, 1]; masked pixels
    are set to 0.

    When the limits coincide (a constant image, or an interval that collapses, such
    as zscale on mostly-zero data) the channel is returned as zeros rather than
    dividing by zero.

    Parameters
    ----------
    kind : str or astropy stretch
        ``"linear"`` (``slope``, ``intercept``), ``"sqrt"``, ``"log"`` (``a``),
        ``"asinh"`` (``a``), ``"sinh"`` (``a``), ``"power"`` (``a``, required) or
        ``"histeq"``; or a ready-made astropy stretch of one of those classes.
    interval : str or astropy interval
        ``"minmax"``, ``"percentile"`` (``percentile=99.5``), ``"asymmetric"``
        (``lower_percentile``, ``upper_percentile``), ``"zscale"`` (``n_samples``,
        ``contrast`` ...) or ``"manual"`` (``vmin``, ``vmax``); or a ready-made
        astropy interval of one of those classes.
    exclude_zeros : bool
        Leave pixels that are exactly 0 out of the interval computation. After
        :class:`~astrofm.preprocess.SigmaClip` with ``mode="zero"`` most pixels are 0
        and zscale would collapse to ``(0, 0)``; excluding them fits the interval to
        the emission that survived the clip. When every valid pixel is 0 the output
        is zeros.
    **params
        Parameters of the stretch and of the interval, by the names above.

    Raises
    ------
    UnknownNameError
        For an unknown stretch or interval name.
    ConfigError
        For a parameter that neither the stretch nor the interval takes.
    ImageValueError
        When a channel has no valid pixel.
    """

    def __init__(self, kind="asinh", interval="zscale", *, exclude_zeros=False, **params):
        if not isinstance(kind, str):
            kind, stretch_params = _from_object(kind, STRETCHES, "stretch")
            params = {**stretch_params, **params}
        if not isinstance(interval, str):
            interval, interval_params = _from_object(interval, INTERVALS, "interval")
            params = {**interval_params, **params}
        check_choice("stretch kind", kind, STRETCHES)
        check_choice("interval", interval, INTERVALS)
        stretch_keys = STRETCHES[kind][1]
        interval_keys = INTERVALS[interval][1]
        unknown = set(params) - set(stretch_keys) - set(interval_keys)
        if unknown:
            raise ConfigError(
                f"Stretch({kind!r}, {interval!r}) got unknown parameter(s) "
                f"{', '.join(sorted(unknown))}; the stretch takes "
                f"{list(stretch_keys) or 'none'}, the interval takes "
                f"{list(interval_keys) or 'none'}."
            )
        missing = [k for k in _REQUIRED.get(kind, ()) if k not in params]
        if missing:
            raise ConfigError(f"Stretch({kind!r}) needs the parameter(s) {', '.join(missing)}.")
        self.kind = kind
        self.interval = interval
        self.exclude_zeros = bool(exclude_zeros)
        self.params = {**_DEFAULTS.get(interval, {}), **params}
        self._stretch_params = {k: v for k, v in self.params.items() if k in stretch_keys}
        self._interval_params = {k: v for k, v in self.params.items() if k in interval_keys}
        try:
            self._interval = INTERVALS[interval][0](**self._interval_params)
            # histeq is built per image from that image's values (see transform).
            self._stretch = (
                None if kind == "histeq" else STRETCHES[kind][0](**self._stretch_params)
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"Stretch({kind!r}, {interval!r}, **{params!r}): {exc}") from exc

    def get_config(self):
        config = {"kind": self.kind, "interval": self.interval}
        if self.exclude_zeros:
            config["exclude_zeros"] = True
        return {**config, **{k: _plain(v) for k, v in self.params.items()}}

    def apply(self, image):
        data = self.transform(image.data, image.mask, source=image.source)
        return self._record(image, data)

    def transform(self, data, mask, source="<array>"):
        """The stretched array for ``data`` (2-D or ``(C, H, W)``) and its ``mask``."""
        return per_plane(lambda d, m: self._plane(d, m, source), data, mask)

    def _plane(self, x, mask, source):
        has_mask = bool(mask.any())
        valid = x[~mask] if has_mask else x.ravel()
        if valid.size == 0:
            raise ImageValueError(
                f"{source}: every pixel is masked (NaN, inf or BLANK), so there is nothing "
                "to stretch; check the file or the mask."
            )
        out = np.zeros(x.shape, dtype=np.float32)
        if self.exclude_zeros:
            valid = valid[valid != 0]
            if valid.size == 0:
                return out
        vmin, vmax = self._interval.get_limits(valid)
        vmin, vmax = float(vmin), float(vmax)
        if not (np.isfinite(vmin) and np.isfinite(vmax) and vmax > vmin):
            return out
        np.subtract(x, vmin, out=out)
        out *= np.float32(1.0 / (vmax - vmin))
        np.clip(out, 0.0, 1.0, out=out)
        stretch = self._stretch
        if stretch is None:
            stretch = self._histeq(out[~mask] if has_mask else out)
            if stretch is None:
                out[...] = 0.0
                return out
        stretch(out, clip=False, out=out)
        # Stretches are exact on [0, 1] only up to rounding; keep the promise of [0, 1].
        np.clip(out, 0.0, 1.0, out=out)
        if has_mask:
            out[mask] = 0.0
        return out

    @staticmethod
    def _histeq(values):
        """HistEqStretch for the normalised values, or None when they are constant."""
        if values.size == 0 or values.min() == values.max():
            return None
        return vis.HistEqStretch(values)
