"""Statistics of training fields, and a warning for images far outside them.

A detector trained on generated fields sees only what they hold. :meth:`Detector.fit
<astrofm.detect.Detector.fit>` records, per training image, the statistics below and
keeps their median and 5-95 % range in ``history["fields"]``;
:meth:`Detector.detect <astrofm.detect.Detector.detect>` measures the same on each image
(tile by tile, so a mosaic is never read whole) and warns with an
:class:`astrofm.errors.DomainWarning` when one lies far outside that range.

``rms``
    Robust noise, :func:`astropy.stats.mad_std` of the valid pixels. Recorded but not
    checked: the preprocessing sigma-clips and stretches every image on its own noise
    (zscale), so a different depth or unit (Jy against mJy) is no shift the network
    sees.
``dynamic_range``
    ``(max - median) / rms``, the brightest peak in units of the noise: what the
    stretch compresses. A field much brighter or much fainter than any in training
    shows the network sources at contrasts it has not learned.
``beam``
    Beam FWHM in pixels, ``BMAJ`` over the pixel scale, when the header has a beam. The
    input scale and anchors are fitted to the training sources' sizes in pixels; a beam
    of other size in pixels (another survey, another pixel scale) gives sources and
    noise grains the network has never seen, and detection collapses.
"""

from __future__ import annotations

import warnings

import numpy as np

from astrofm.errors import DomainWarning

__all__ = ["beam_pixels", "field_statistics", "training_statistics",
           "FieldStats", "check_field", "TOLERANCE"]

#: How far outside the training range a statistic must lie to warn, as a factor.
TOLERANCE = {"dynamic_range": 10.0, "beam": 1.5}
#: Training images measured at most (evenly spaced): the range needs no more.
MAX_IMAGES = 200


def beam_pixels(header, wcs=None) -> float | None:
    """Beam major-axis FWHM in pixels, or None when the header gives no beam or scale.

    Parameters
    ----------
    header : astropy.io.fits.Header or None
        With ``BMAJ`` in degrees, as radio images carry it.
    wcs : astropy.wcs.WCS, optional
        Celestial WCS giving the pixel scale (rotations and CD matrices included);
        without one, ``CDELT2`` of the header.
    """
    from astropy.wcs.utils import proj_plane_pixel_scales

    if header is None or not header.get("BMAJ"):
        return None
    if wcs is not None:
        scale = float(np.sqrt(np.prod(proj_plane_pixel_scales(wcs))))
    else:
        scale = abs(float(header.get("CDELT2", 0.0)))
    return float(header["BMAJ"]) / scale if scale > 0 else None


class FieldStats:
    """Statistics of one image gathered from its tiles (or from the whole of it).

    The rms of the image is the median of its tiles' rms, and its peak the highest
    tile peak above that tile's median, so a mosaic need not be read whole; an image
    added in one piece gives exactly :func:`field_statistics`.
    """

    def __init__(self):
        self.rms, self.peaks = [], []

    def add(self, data, mask=None) -> None:
        """Add one tile (``(H, W)`` or ``(C, H, W)`` data, True in ``mask`` for invalid)."""
        from astropy.stats import mad_std

        from astrofm.detect.snr import single_plane

        data, valid = single_plane(data, mask)
        if valid.any():
            values = data[valid]
            self.rms.append(float(mad_std(values)))
            self.peaks.append(float(values.max() - np.median(values)))

    def result(self, header=None, wcs=None) -> dict:
        """``{"rms", "dynamic_range"}`` and ``"beam"`` when the header gives one."""
        stats = {}
        rms = float(np.median(self.rms)) if self.rms else 0.0
        if rms > 0:
            stats = {"rms": rms, "dynamic_range": max(self.peaks) / rms}
        beam = beam_pixels(header, wcs)
        if beam is not None:
            stats["beam"] = beam
        return stats


def field_statistics(image) -> dict:
    """``rms``, ``dynamic_range`` and (with a beam in the header) ``beam`` of an AstroImage."""
    stats = FieldStats()
    stats.add(image.data, image.mask)
    return stats.result(image.header, image.wcs)


def training_statistics(dataset) -> dict:
    """Median and 5-95 % range of each statistic over the images of a data set.

    Parameters
    ----------
    dataset : str, path or CocoDataset
        Training images, as :meth:`Detector.fit <astrofm.detect.Detector.fit>` takes
        them (at most :data:`MAX_IMAGES`, evenly spaced, are measured).

    Returns
    -------
    dict
        ``{name: {"median", "low", "high", "images"}}`` of plain floats and ints (saved
        with the model as JSON); a statistic no image has is absent.
    """
    from astrofm.detect.datasets import detection_set

    dataset = detection_set(dataset, "train")
    count = len(dataset)
    picks = np.unique(np.linspace(0, count - 1, min(count, MAX_IMAGES)).astype(int))
    measured = [field_statistics(dataset.load(int(i))) for i in picks]
    summary = {}
    for name in ("rms", "dynamic_range", "beam"):
        values = np.array([m[name] for m in measured if name in m])
        if len(values):
            low, median, high = np.percentile(values, [5, 50, 95])
            summary[name] = {"median": float(median), "low": float(low), "high": float(high),
                             "images": len(values)}
    return summary


def check_field(name: str, stats: dict, training: dict) -> str | None:
    """Warn once if ``stats`` of image ``name`` lie far outside the ``training`` range.

    Parameters
    ----------
    name : str
        The image, for the message.
    stats : dict
        Its :func:`field_statistics`.
    training : dict
        :func:`training_statistics` of the detector's training fields; empty (a
        detector saved before they were recorded) checks nothing.

    Returns
    -------
    str or None
        The warning's message, or None when nothing is far outside.
    """
    problems = []
    for key, factor in TOLERANCE.items():
        if key not in stats or key not in training:
            continue
        low, high = training[key]["low"], training[key]["high"]
        if not low / factor <= stats[key] <= high * factor:
            problems.append(f"{key.replace('_', ' ')} {stats[key]:.3g} is more than {factor:g}x "
                            f"outside the training fields' {low:.3g} to {high:.3g}")
    if not problems:
        return None
    message = (f"{name}: {'; '.join(problems)}, so the detector may miss sources or find "
               "noise; train it on fields matched to this survey (its beam in pixels, its "
               "noise and brightest sources).")
    warnings.warn(message, DomainWarning, stacklevel=2)
    return message
