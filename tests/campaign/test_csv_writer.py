"""The fast CSV path prints exactly what pandas prints, and falls back to pandas otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign.export import to_spreadsheet_csv

TEXT = st.text(alphabet=st.sampled_from(list("ab,\"'\r\n\t =+-@1.中文 ")), max_size=8)
FLOAT = st.floats(allow_nan=False, width=64) | st.sampled_from([0.0, -0.0, 1e16, 1e-5, 0.0001, 6.0, 0.7])


def _both(frame: pd.DataFrame, tmp_path) -> tuple[bytes, bytes]:
    ours = tmp_path / "ours.csv"
    to_spreadsheet_csv(frame, ours)
    theirs = tmp_path / "pandas.csv"
    # What the writer did before the fast path: pandas on the made-safe frame.
    from campaign.export import spreadsheet_safe

    spreadsheet_safe(frame).to_csv(theirs, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return ours.read_bytes(), theirs.read_bytes()


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(FLOAT, st.integers(-10**12, 10**12), st.booleans(), TEXT), max_size=120))
def test_fast_path_prints_what_pandas_prints(rows, tmp_path_factory):
    frame = pd.DataFrame(rows, columns=["distance_m", "code_number", "flag", "name"])
    frame = frame.astype({"distance_m": float, "code_number": "int64", "flag": bool})
    ours, theirs = _both(frame, tmp_path_factory.mktemp("csv"))
    assert ours == theirs


def test_many_rows_with_few_distinct_values_and_negative_zero(tmp_path):
    n = 5000
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "protection_range_m": rng.choice([0.7, 6.0, 1.5], n),
        "outer_diameter_mm": rng.choice([32, 160, 508], n),
        "lon": np.round(121 + rng.random(n), 8),
        "signed": rng.choice([0.0, -0.0, 2.5], n),
        "action": rng.choice(["位于安全保护范围内，须商定保护方案", "=HYPERLINK(\"x\")"], n),
    })
    ours, theirs = _both(frame, tmp_path)
    assert ours == theirs
    assert b"'=HYPERLINK" in ours


def test_missing_values_and_dates_go_to_pandas(tmp_path):
    frame = pd.DataFrame({"d": [1.5, np.nan], "when": [pd.Timestamp("2026-03-01").date(), None],
                          "name": ["a", None]})
    ours, theirs = _both(frame, tmp_path)
    assert ours == theirs and b"2026-03-01" in ours


def test_rows_over_several_blocks_with_quoting_print_what_pandas_prints(tmp_path):
    """The joined writer works in blocks of rows: a long frame crosses block edges."""
    n = 40_000
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({
        "site_id": [f"S-{i:06d}" for i in range(n)],
        "note": rng.choice(
            ["a,b", 'say "hi"', "line\r\nbreak", "lone\rcr", "", "中文，逗号", "-5", "=1+1"], n),
        "distance_m": np.round(rng.random(n) * 100, 2),
        "count": rng.integers(-5, 5, n),
    })
    ours, theirs = _both(frame, tmp_path)
    assert ours == theirs
    assert ours.startswith(b"\xef\xbb\xbfsite_id,note,")
