"""Build the optional C accelerator of nearest-edge snapping (coverage/_nearest.c).

Everything else is in pyproject.toml. Without a C compiler the build still succeeds
(``optional=True``) and snapping falls back to its numpy and KD-tree path, which gives
the same distances more slowly (see coverage/snapping.py).
"""

import os

from setuptools import Extension, setup

setup(ext_modules=[Extension("eldercare_coverage._nearest", ["coverage/_nearest.c"], optional=True,
                             extra_compile_args=[] if os.name == "nt" else ["-O3"])])
