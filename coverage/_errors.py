"""Exceptions raised by eldercare-coverage.

Every exception derives from :class:`CoverageError` and, where it fits, from the
matching built-in, so ``except ValueError`` keeps working for callers who do not
know this package. Messages name the input (file, row, column), the value found
and what is allowed.
"""

from __future__ import annotations


class CoverageError(Exception):
    """Base class of every error raised by this package."""


class InputFileError(CoverageError, ValueError):
    """An input file cannot be read or does not hold what it should."""


class InputRowError(CoverageError, ValueError):
    """One or more rows of an input table are invalid (raised only in strict mode)."""


class NoCrsError(CoverageError, ValueError):
    """A spatial input has no coordinate reference system."""


class PolicyError(CoverageError, ValueError):
    """A service-circle or target definition is invalid."""


class NetworkError(CoverageError, ValueError):
    """A street network is empty, unusable for the mode, or cannot be loaded."""


class UnknownCrsError(CoverageError, ValueError):
    """A coordinate-system name is not one this package knows (e.g. wgs84, gcj02, bd09)."""
