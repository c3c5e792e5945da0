"""eldercare-coverage: network service circles of elderly-care facilities.

Public API is filled in by the pipeline modules.
"""

from __future__ import annotations

from ._errors import CoverageError
from .settings import Settings, settings

__version__ = "0.1.0"

__all__ = ["CoverageError", "Settings", "__version__", "settings"]
