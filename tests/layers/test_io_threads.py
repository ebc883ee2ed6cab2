"""Validation shared by threads (the API's thread pool, ``gisapp screen``) stays sound.

GEOS prepared geometries are not thread-safe, and the district extent is one shared
prepared geometry: eight threads testing points against a fresh extent at once crashed
the interpreter (heap corruption) without the lock in ``layers.io.validate``.
"""

from __future__ import annotations

import threading

import numpy as np

import shapely

from layers import district
from layers.io import validate


def _hammer(rounds: int, threads: int = 8) -> np.ndarray:
    rng = np.random.default_rng(1)
    points = shapely.points(rng.uniform(121.2, 122.0, 20_000), rng.uniform(31.3, 31.9, 20_000))
    expected = None
    for _ in range(rounds):
        district._extent_lonlat.cache_clear()  # a fresh, never-queried extent
        out: list = [None] * threads
        barrier = threading.Barrier(threads)

        def check(k: int, out=out, barrier=barrier) -> None:
            barrier.wait()
            out[k] = validate.points_inside(shapely.get_x(points), shapely.get_y(points), 2000.0)

        workers = [threading.Thread(target=check, args=(k,)) for k in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        expected = out[0] if expected is None else expected
        assert all(o is not None and (o == expected).all() for o in out)
    return expected


def test_extent_tests_from_many_threads_at_once_agree():
    inside = _hammer(rounds=20)
    assert 0 < inside.sum() < len(inside)  # some points inside the district, some outside
