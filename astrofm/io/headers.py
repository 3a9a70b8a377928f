"""Header glue: units from BUNIT, the celestial WCS of an image plane, header warnings."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import warnings

import astropy.units as u
from astropy.io.fits.verify import VerifyWarning
from astropy.wcs import WCS, FITSFixedWarning

from astrofm.errors import HeaderWarning

__all__ = ["parse_unit", "celestial_wcs", "read_wcs", "image_wcs", "header_warnings",
           "warn_user"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def warn_user(message: str, category=HeaderWarning) -> None:
    """Warn, pointing at the first caller outside astrofm (the user's line).

    Parameters
    ----------
    message : str
        The warning text.
    category : type
        Warning class; :class:`~astrofm.errors.HeaderWarning` by default.
    """
    frame, level = sys._getframe(1), 2
    while frame is not None and (
        frame.f_code.co_filename.startswith(_PACKAGE) or "contextlib" in frame.f_code.co_filename
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)

_TRUNCATED = re.compile(r"actual file length \((\d+)\) is smaller than the expected size")


def parse_unit(text, *, source: str = "<header>"):
    """Parse a FITS ``BUNIT`` string into an astropy unit.

    The FITS standard spelling is tried first, then astropy's generic one, then the
    same string with every unknown name replaced by the one registered unit whose
    name matches it ignoring case (so ``'JY/BEAM'`` becomes ``Jy / beam``). A name
    that matches two units ignoring case (``'MJY'``: mJy or MJy?) is never guessed.

    Parameters
    ----------
    text : str or None
        The ``BUNIT`` value.
    source : str
        File name used in the warning.

    Returns
    -------
    astropy.units.UnitBase or None
        None for a missing or blank ``BUNIT``, or one that cannot be parsed; the
        latter also emits a :class:`~astrofm.errors.HeaderWarning`.
    """
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    unit = _parse(text)
    if unit is not None:
        return unit
    warn_user(
        f"{source}: BUNIT = {text!r} is not a unit astropy can parse; the image is loaded "
        "with unit=None. Fix BUNIT in the header (e.g. 'Jy/beam') to keep the unit.",
        HeaderWarning,
    )
    return None


@functools.lru_cache(maxsize=512)
def _parse(text: str):
    # Cached: a failed parse makes astropy compute "did you mean" suggestions, which
    # costs tens of milliseconds, and a survey repeats the same BUNIT in every file.
    for candidate in (text, _case_fixed(text)):
        if candidate is None:
            continue
        for fmt in ("fits", None):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return u.Unit(candidate, format=fmt)
            except (ValueError, TypeError):
                continue
    return None


def _case_fixed(text: str) -> str | None:
    registry = u.get_current_unit_registry().registry
    by_lower: dict[str, set[str]] = {}
    for name in registry:
        by_lower.setdefault(name.lower(), set()).add(name)

    def fix(match):
        name = match.group(0)
        if name in registry:
            return name
        options = by_lower.get(name.lower(), set())
        if len(options) != 1:
            raise KeyError(name)
        return options.pop()

    try:
        fixed = re.sub(r"[A-Za-z]+", fix, text)
    except KeyError:
        return None
    return fixed if fixed != text else None


def celestial_wcs(wcs, *, source: str = "<WCS>"):
    """The 2-D celestial WCS of the image plane (FITS axes 1 and 2) of ``wcs``.

    Degenerate or plane axes (Stokes, frequency) are dropped with
    :meth:`astropy.wcs.WCS.sub`, which keeps the pixel-to-sky map of the two image
    axes exactly. The pixel axes keep their order, so ``(x, y)`` is still
    ``(column, row)`` of the data.

    Parameters
    ----------
    wcs : astropy.wcs.WCS or None
        WCS of the whole HDU, possibly with more than two axes.
    source : str
        Name used in the warning.

    Returns
    -------
    astropy.wcs.WCS or None
        None when ``wcs`` is None or has no celestial pair on the image axes; the
        latter (e.g. a position-velocity slice) warns, since a WCS was present.
    """
    if wcs is None:
        return None
    if not wcs.has_celestial:
        return None
    if {wcs.wcs.lng, wcs.wcs.lat} != {0, 1}:
        warn_user(
            f"{source}: the celestial axes of the WCS are not the image's first two axes "
            f"(CTYPE = {list(wcs.wcs.ctype)}); the image is loaded without a WCS.",
            HeaderWarning,
        )
        return None
    return wcs.sub([1, 2]) if wcs.naxis > 2 else wcs


def read_wcs(header, *, fobj=None, source: str = "<header>"):
    """Build the full WCS of ``header``; an unreadable WCS warns and gives None.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The HDU's header.
    fobj : astropy.io.fits.HDUList, optional
        The file, for distortion lookup tables stored in other HDUs.
    source : str
        File name used in the warning.

    Returns
    -------
    astropy.wcs.WCS or None
    """
    try:
        with warnings.catch_warnings():
            # FITSFixedWarning reports the fixes astropy applies routinely (unit
            # spelling, dates); the WCS that results is valid, so they are not news.
            warnings.simplefilter("ignore", FITSFixedWarning)
            return WCS(header, fobj=fobj)
    except Exception as exc:  # wcslib raises many unrelated types for bad keywords
        warn_user(
            f"{source}: the header's WCS cannot be read ({exc}); the image is loaded "
            "without a WCS, so sky positions are unavailable.",
            HeaderWarning,
        )
        return None


# Keywords of WCS parts that astropy reads from other HDUs of the file (distortion
# lookup tables, -TAB coordinate arrays): such a WCS must be built while the file is open.
_NEEDS_FILE = re.compile(r"^(CPDIS|CQDIS|D2IM)")


def image_wcs(header, *, fobj=None, source: str = "<header>"):
    """The celestial WCS of an image plane, deferred until it is first read.

    Building an astropy WCS costs more than reading a small cutout, and a pipeline
    that never looks at the sky should not pay for it; the image holds a
    :class:`~astrofm.image.Deferred` that builds it from ``header`` (with
    :func:`read_wcs` and :func:`celestial_wcs`, warnings included) on first access.
    A WCS that needs other HDUs of the file is built at once.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The HDU's header; it is kept, so it should not be changed afterwards.
    fobj : astropy.io.fits.HDUList, optional
        The open file, for WCS parts stored in other HDUs.
    source : str
        File name used in warnings.

    Returns
    -------
    astrofm.image.Deferred, astropy.wcs.WCS or None
    """
    if fobj is not None and any(
        _NEEDS_FILE.match(key) or (key.startswith("CTYPE") and str(header[key]).endswith("-TAB"))
        for key in header
    ):
        return _celestial_from_header(header, source, fobj)
    from astrofm.image import Deferred

    return Deferred(_celestial_from_header, header, source)


def _celestial_from_header(header, source, fobj=None):
    with header_warnings(source):
        return celestial_wcs(read_wcs(header, fobj=fobj, source=source), source=source)


class WarningLog:
    """The warnings :func:`header_warnings` is collecting, readable while it runs."""

    def __init__(self, caught: list):
        self._caught = caught

    @property
    def file_length(self) -> int | None:
        """File length astropy reported when it found the file shorter than expected."""
        for w in self._caught:
            match = _TRUNCATED.search(str(w.message))
            if match:
                return int(match.group(1))
        return None


@contextlib.contextmanager
def header_warnings(source: str):
    """Turn astropy's many header VerifyWarnings into one astrofm HeaderWarning.

    astropy warns once per bad card (and again each time the header is printed or
    turned into a WCS); a user needs one line that names the file. The "file may have
    been truncated" warning is kept in the yielded log for the reader to judge, since
    only it knows whether the missing bytes were data or padding. Other warnings pass
    through unchanged.

    Parameters
    ----------
    source : str
        File name used in the warning.

    Yields
    ------
    WarningLog
    """
    verify = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield WarningLog(caught)
    for w in caught:
        text = str(w.message)
        if _TRUNCATED.search(text) or issubclass(w.category, FITSFixedWarning):
            continue
        if issubclass(w.category, VerifyWarning):
            if not text.startswith(("Verification reported", "Note: astropy")):
                verify.append(text.strip())
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if verify:
        unique = list(dict.fromkeys(verify))
        warn_user(
            f"{source}: the header has {len(unique)} non-standard card(s) that astropy "
            f"cannot verify, e.g. {unique[0]!r}. They are kept as they are and the image "
            "was loaded; repair the header (astropy.io.fits verify('fix')) to silence this.",
            HeaderWarning,
        )
