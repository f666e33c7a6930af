"""Array types and the flat-buffer view shared by the Monte Carlo modules."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
AnyArray = npt.NDArray[Any]


def view(flat: AnyArray, rows: int, trials: int) -> AnyArray:
    """The first ``rows x trials`` elements of a flat buffer as a 2-D block."""
    return flat[: rows * trials].reshape(rows, trials)
