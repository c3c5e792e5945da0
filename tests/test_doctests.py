"""Every example in the package's docstrings runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import eldercare_coverage


def test_docstring_examples():
    failed, attempted = {}, 0
    for info in pkgutil.iter_modules(eldercare_coverage.__path__):
        module = importlib.import_module(f"eldercare_coverage.{info.name}")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
        attempted += result.attempted
        if result.failed:
            failed[info.name] = result.failed
    assert not failed, f"examples failed (module: count): {failed}; run doctest on them"
    assert attempted > 0
