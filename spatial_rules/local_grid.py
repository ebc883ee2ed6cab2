"""Local (city) grids tied to CGCS2000 by control points: least-squares fits and residuals.

A surveyor gives three or more points known in both systems. A four-parameter
similarity (shift, rotation, one scale) or six-parameter affine transformation from
local x/y to a metric CRS is fitted by least squares; each point's residual shows
whether a control point was mistyped. Coordinates are metres, x = easting, y = northing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

METHODS = ("similarity", "affine")
MIN_POINTS = {"similarity": 3, "affine": 4}  # one more than the minimum, so residuals mean something


@dataclass(frozen=True)
class GridFit:
    """A fitted transformation and how well it fits its control points (metres)."""

    method: str
    parameters: dict[str, float]  # a, b, c, d, e, f: X = a x + b y + c, Y = d x + e y + f
    residuals_m: list[float]
    rms_m: float

    def apply(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Return target X, Y for local x, y (arrays or scalars, metres)."""
        p = self.parameters
        dx = np.asarray(x, dtype=float) - p["x0"]
        dy = np.asarray(y, dtype=float) - p["y0"]
        return p["a"] * dx + p["b"] * dy + p["c"], p["d"] * dx + p["e"] * dy + p["f"]

    @property
    def scale(self) -> float:
        """Return the mean scale factor of the transformation."""
        p = self.parameters
        return float(np.sqrt(abs(p["a"] * p["e"] - p["b"] * p["d"])))

    @property
    def rotation_deg(self) -> float:
        """Return the rotation (degrees, anticlockwise) of the transformation."""
        p = self.parameters
        return float(np.degrees(np.arctan2(p["d"] - p["b"], p["a"] + p["e"])))


def fit(local_xy: npt.ArrayLike, target_xy: npt.ArrayLike, method: str = "similarity") -> GridFit:
    """Fit local -> target by least squares; raise ValueError for too few or degenerate points."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    local = np.asarray(local_xy, dtype=float).reshape(-1, 2)
    target = np.asarray(target_xy, dtype=float).reshape(-1, 2)
    if len(local) != len(target) or len(local) < MIN_POINTS[method]:
        raise ValueError(f"{method} needs at least {MIN_POINTS[method]} point pairs")
    # Centre both sides: survey coordinates are millions of metres, and the normal
    # equations lose digits without it.
    x0, y0 = local.mean(axis=0)
    tx0, ty0 = target.mean(axis=0)
    x, y = local[:, 0] - x0, local[:, 1] - y0
    tx, ty = target[:, 0] - tx0, target[:, 1] - ty0
    n = len(local)
    if method == "similarity":
        # X = a x - b y + c, Y = b x + a y + f
        design = np.zeros((2 * n, 4))
        design[:n] = np.column_stack([x, -y, np.ones(n), np.zeros(n)])
        design[n:] = np.column_stack([y, x, np.zeros(n), np.ones(n)])
        solution, _, rank, _ = np.linalg.lstsq(design, np.concatenate([tx, ty]), rcond=None)
        if rank < 4:
            raise ValueError("control points are degenerate (all in one place)")
        a, b, c, f = solution
        params = {"a": a, "b": -b, "c": c, "d": b, "e": a, "f": f}
    else:
        design = np.column_stack([x, y, np.ones(n)])
        sx, _, rank_x, _ = np.linalg.lstsq(design, tx, rcond=None)
        sy, _, rank_y, _ = np.linalg.lstsq(design, ty, rcond=None)
        if min(rank_x, rank_y) < 3:
            raise ValueError("control points are degenerate (on one line)")
        params = {"a": sx[0], "b": sx[1], "c": sx[2], "d": sy[0], "e": sy[1], "f": sy[2]}
    params["c"] += tx0
    params["f"] += ty0
    params.update(x0=x0, y0=y0)
    params = {k: float(v) for k, v in params.items()}
    result = GridFit(method, params, [], 0.0)
    px, py = result.apply(local[:, 0], local[:, 1])
    residuals = np.hypot(px - target[:, 0], py - target[:, 1])
    return GridFit(method, params, [float(r) for r in residuals], float(np.sqrt(np.mean(residuals**2))))


def from_parameters(method: str, parameters: dict[str, float]) -> GridFit:
    """Return a stored fit (residuals are not needed to apply it)."""
    return GridFit(method, {k: float(v) for k, v in parameters.items()}, [], 0.0)
