"""Type stub of the optional C accelerator ``coverage/_nearest.c`` (built by setup.py)."""

import numpy as np

def nearest(xy: np.ndarray, cell_data: np.ndarray, cell_start: np.ndarray,
            cell_items: np.ndarray, x0: float, y0: float, size: float, max_dist: float,
            nx: int, ny: int, out_seg: np.ndarray, out_t: np.ndarray, out_d2: np.ndarray,
            out_settled: np.ndarray) -> None: ...
