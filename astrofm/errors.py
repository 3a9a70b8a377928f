"""Exceptions and warnings raised by astrofm.

Every error astrofm raises on bad input derives from :class:`AstrofmError`, so a
caller can catch them all at once, and from the matching built-in exception
(``ValueError``, ``FileNotFoundError`` ...) so code that already catches those keeps
working. Messages name the file or argument at fault and say what to do.
"""

__all__ = [
    "AstrofmError",
    "InputFileError",
    "FileFormatError",
    "NoImageDataError",
    "ImageShapeError",
    "ImageValueError",
    "BoxError",
    "BandMismatchError",
    "ConfigError",
    "UnknownNameError",
    "DatasetError",
    "SplitError",
    "BackboneError",
    "WeightsError",
    "TrainingError",
    "AstrofmWarning",
    "HeaderWarning",
    "PluginWarning",
    "DomainWarning",
]


class AstrofmError(Exception):
    """Base class of every astrofm exception."""


class InputFileError(AstrofmError, FileNotFoundError):
    """A path that does not exist or cannot be read."""


class FileFormatError(AstrofmError, ValueError):
    """A file that is not a readable FITS or raster image (wrong type, truncated)."""


class NoImageDataError(AstrofmError, ValueError):
    """A FITS file or HDU that holds no image data."""


class ImageShapeError(AstrofmError, ValueError):
    """An array whose shape or dtype cannot be an image (5-D, complex, empty, too small)."""


class ImageValueError(AstrofmError, ValueError):
    """An image whose values cannot be used (all NaN, no valid pixels)."""


class BoxError(AstrofmError, ValueError):
    """A bounding box outside the image or of zero area."""


class BandMismatchError(AstrofmError, ValueError):
    """Bands that cannot be stacked (different shapes and no WCS to reproject them)."""


class ConfigError(AstrofmError, ValueError):
    """An argument with an invalid value or combination of values."""


class UnknownNameError(ConfigError, KeyError):
    """A name (step, stretch, backbone, head ...) that is not registered."""

    def __str__(self):
        # KeyError quotes its message; an error meant for people should not be quoted.
        return str(self.args[0]) if self.args else ""


class DatasetError(AstrofmError, ValueError):
    """A data set description that cannot be used (missing column, labels not matching)."""


class SplitError(DatasetError):
    """A split that cannot be made or must not be used (empty, single class, test in fit)."""


class BackboneError(AstrofmError, RuntimeError):
    """A backbone that cannot be built or does not support what was asked."""


class WeightsError(BackboneError):
    """Weights that cannot be found, downloaded or matched to the architecture."""


class TrainingError(AstrofmError, RuntimeError):
    """A training or evaluation run that cannot proceed."""


class AstrofmWarning(UserWarning):
    """Base class of astrofm warnings."""


class HeaderWarning(AstrofmWarning):
    """A FITS header with non-standard cards that were repaired or ignored."""


class PluginWarning(AstrofmWarning):
    """A backbone plugin that failed to load; astrofm goes on without it."""


class DomainWarning(AstrofmWarning):
    """An image far outside what a model was trained on (another beam, dynamic range)."""
