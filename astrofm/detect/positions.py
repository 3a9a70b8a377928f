"""Scores against catalogues of positions: recall within a radius, false detections.

Some reference catalogues give positions without sizes (Radio Galaxy Zoo's component
positions, say), so boxes and IoU do not apply. Detections and reference positions of
an image are cross-matched one to one within a radius (one beam FWHM is natural):
scipy's ``linear_sum_assignment`` pairs as many as possible, and among those pairings
the one of least total separation. A reference position paired with a detection is
recovered; a detection paired with none is false, so two detections of one source count
one true and one false, as a catalogue with a duplicate entry would. A separation equal
to the radius is a match.

Positions are pixels, ``(N, 2)`` arrays of ``x, y`` in astropy's convention (0-based
pixel centres), or sky coordinates (:class:`~astropy.coordinates.SkyCoord`, with the
radius an angle). Catalogues from :meth:`~astrofm.detect.Detector.detect` or
:func:`~astrofm.detect.baseline.segmentation_catalog` give their box centres: ``x``,
``y`` less half a pixel (their edge convention), or ``ra``, ``dec``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from astrofm.errors import ConfigError

__all__ = ["PositionReport", "match_positions", "position_metrics"]


@dataclass
class PositionReport:
    """Recall of reference positions and false detections over a set of images.

    Attributes
    ----------
    recall : float
        Share of reference positions with a detection within the radius.
    false_per_image : float
        Detections matched to no reference position, per image.
    precision : float
        Share of detections matched to a reference position.
    n_images, n_reference, n_detected : int
        Images, reference positions and detections counted.
    found, false : int
        Reference positions recovered, and false detections.
    radius : float or astropy.coordinates.Angle
        The matching radius.
    """

    recall: float
    false_per_image: float
    precision: float
    n_images: int
    n_reference: int
    n_detected: int
    found: int
    false: int
    radius: object

    def __str__(self):
        return (f"recall {self.recall:.3f} ({self.found} of {self.n_reference} positions), "
                f"{self.false_per_image:.2f} false detections per image ({self.false} of "
                f"{self.n_detected}), precision {self.precision:.3f}, within {self.radius} "
                f"({self.n_images} images)")


def _positions(item, sky):
    """Pixel ``(N, 2)`` array or SkyCoord of a catalogue, array or SkyCoord."""
    from astropy.coordinates import SkyCoord

    if hasattr(item, "colnames"):
        if sky:
            if "ra" not in item.colnames or "dec" not in item.colnames:
                raise ConfigError("detections: sky reference positions need catalogues with "
                                  "ra and dec, from an image with a celestial WCS; or give "
                                  "reference pixel positions.")
            return SkyCoord(np.asarray(item["ra"], float), np.asarray(item["dec"], float),
                            unit="deg")
        return np.stack([np.asarray(item["x"], float) - 0.5,
                         np.asarray(item["y"], float) - 0.5], axis=-1).reshape(-1, 2)
    if isinstance(item, SkyCoord) != sky:
        raise ConfigError("positions: give detections and references both as pixels or both "
                          "as SkyCoord.")
    if sky:
        return item.reshape(-1)
    xy = np.asarray(item, dtype=float)
    if xy.size and (xy.ndim != 2 or xy.shape[1] != 2):
        raise ConfigError(f"positions: pixel positions are an (N, 2) array of x, y; got shape "
                          f"{xy.shape}.")
    return xy.reshape(-1, 2)


def _radius(radius, sky):
    import astropy.units as u

    if sky:
        if not (isinstance(radius, u.Quantity) and radius.unit.physical_type == "angle"
                and radius.isscalar and radius > 0):
            raise ConfigError(f"radius={radius!r}: sky positions need an angle > 0, e.g. "
                              "5.4 * u.arcsec.")
        return radius.to(u.arcsec)
    if isinstance(radius, u.Quantity) or not (np.isscalar(radius) and radius > 0):
        raise ConfigError(f"radius={radius!r}: pixel positions need a radius in pixels, > 0.")
    return float(radius)


def match_positions(detected, reference, radius):
    """One-to-one cross-match of detections and reference positions within a radius.

    Parameters
    ----------
    detected, reference : array_like or SkyCoord
        ``(N, 2)`` and ``(M, 2)`` pixel positions ``x, y``, or sky coordinates.
    radius : float or astropy.units.Quantity
        Largest separation of a match (inclusive): pixels, or an angle for sky
        coordinates.

    Returns
    -------
    found : numpy.ndarray of bool
        ``(M,)``: which reference positions have a matched detection.
    true : numpy.ndarray of bool
        ``(N,)``: which detections are matched to a reference position.
    """
    from astropy.coordinates import SkyCoord
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    sky = isinstance(reference, SkyCoord)
    radius = _radius(radius, sky)
    detected, reference = _positions(detected, sky), _positions(reference, sky)
    found, true = np.zeros(len(reference), dtype=bool), np.zeros(len(detected), dtype=bool)
    if not (len(detected) and len(reference)):
        return found, true
    if sky:
        separation = reference[:, None].separation(detected[None, :]).to_value("arcsec")
        radius = radius.value
    else:
        separation = cdist(reference, detected)
    within = separation <= radius
    # A pair beyond the radius costs more than any full set of pairs within it, so the
    # assignment first pairs as many as it can, then the closest.
    cost = np.where(within, separation, radius * (min(within.shape) + 1))
    rows, cols = linear_sum_assignment(cost)
    ok = within[rows, cols]
    found[rows[ok]], true[cols[ok]] = True, True
    return found, true


def position_metrics(detections, references, *, radius, min_score: float | None = None,
                     score_column: str = "score") -> PositionReport:
    """Recall of reference positions and false detections per image.

    Parameters
    ----------
    detections : sequence
        One item per image: a catalogue Table (:meth:`~astrofm.detect.Detector.detect`,
        :func:`~astrofm.detect.baseline.segmentation_catalog`), an ``(N, 2)`` array
        of pixel positions or a SkyCoord.
    references : sequence
        One item per image, in the same order: ``(M, 2)`` pixel positions (0-based
        pixel centres) or a SkyCoord.
    radius : float or astropy.units.Quantity
        Matching radius: pixels, or an angle for sky positions.
    min_score : float, optional
        Keep catalogue rows whose ``score_column`` is at least this.
    score_column : str
        Column ``min_score`` applies to (``"snr"`` for a cut on peak S/N).

    Returns
    -------
    PositionReport
    """
    detections, references = list(detections), list(references)
    if len(detections) != len(references):
        raise ConfigError(f"detections for {len(detections)} images but references for "
                          f"{len(references)}; give one of each per image, in the same order.")
    if not detections:
        raise ConfigError("detections: no images to score.")
    found = false = n_ref = n_det = 0
    for det, ref in zip(detections, references, strict=True):
        if min_score is not None and hasattr(det, "colnames"):
            if score_column not in det.colnames:
                raise ConfigError(f"score_column={score_column!r}: the catalogue has no such "
                                  f"column; its columns are {det.colnames}.")
            det = det[np.asarray(det[score_column], dtype=float) >= min_score]
        hit, true = match_positions(det, ref, radius)
        found, false = found + int(hit.sum()), false + int((~true).sum())
        n_ref, n_det = n_ref + len(hit), n_det + len(true)
    return PositionReport(
        recall=found / n_ref if n_ref else 0.0, false_per_image=false / len(detections),
        precision=(n_det - false) / n_det if n_det else 0.0, n_images=len(detections),
        n_reference=n_ref, n_detected=n_det, found=found, false=false, radius=radius)
