"""Exceptions raised by the ml package."""


class MLError(Exception):
    """Base class of the ml package's errors."""


class ImageDecodeError(MLError):
    """The bytes could not be decoded as a JPEG/PNG image.

    ``Grader.grade`` never raises it: an undecodable item yields an ungradable ``GradeResult``
    with ``quality_reason == "undecodable"``. Lower-level helpers (``ml.preprocess.decode_image``)
    raise it.
    """


class WeightsError(MLError):
    """The weights directory is missing files or the files are inconsistent."""
