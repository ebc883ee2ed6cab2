"""``gisapp screen`` end to end against the naive script end to end, alternating runs.

    python benchmarks/bench_screen_cli.py [--seed N] [--repeat K] [--keep DIR]

Both are fresh processes reading the same city-size GeoPackages (file reading, imports
and output writing included). Runs alternate ours/naive so machine noise hits both;
the min and median of each and of the per-pair ratio are printed, with peak memory.
No assertion: the figures are printed for review.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_screening import GISAPP, ROOT, run_measured  # noqa: E402

from layers.sample import generate_sample  # noqa: E402


def _files(folder: Path, seed: int) -> dict[str, Path]:
    """Write (or reuse, when already in ``folder``) the city sample as GeoPackages."""
    existing = {"pipelines": folder / "pipelines.gpkg", "projects": folder / "projects.gpkg"}
    if all(p.exists() for p in existing.values()):
        return existing
    return generate_sample(seed=seed, scale="city").write(folder, fmt="gpkg")


def compare_end_to_end(files: dict[str, Path], out_dir: str | Path, repeat: int) -> dict[str, float]:
    """Run ours and the naive script ``repeat`` times each, alternating; return the figures."""
    ours_cmd = [
        GISAPP,
        "screen",
        "--pipelines",
        str(files["pipelines"]),
        "--sites",
        str(files["projects"]),
        "--out",
        f"{out_dir}/ours.csv",
    ]
    naive_cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "naive_screen.py"),
        str(files["pipelines"]),
        str(files["projects"]),
        f"{out_dir}/naive.csv",
    ]
    ours, naive, ours_mb, naive_mb = [], [], [], []
    for _ in range(repeat):
        o_s, o_mb, _ = run_measured(ours_cmd)
        n_s, n_mb, _ = run_measured(naive_cmd)
        ours.append(o_s)
        naive.append(n_s)
        ours_mb.append(o_mb)
        naive_mb.append(n_mb)
        print(
            f"  ours {o_s:.2f} s ({o_mb:.0f} MiB), naive {n_s:.2f} s ({n_mb:.0f} MiB): {n_s / o_s:.2f}x",
            flush=True,
        )
    ratios = [n / o for n, o in zip(naive, ours, strict=True)]
    med = statistics.median
    return {
        "ours_min": min(ours),
        "ours_median": med(ours),
        "ours_mib": max(ours_mb),
        "naive_min": min(naive),
        "naive_median": med(naive),
        "naive_mib": max(naive_mb),
        "ratio_min": min(ratios),
        "ratio_median": med(ratios),
    }


def main() -> None:
    """Run the comparison and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep/reuse the files in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        r = compare_end_to_end(_files(folder, args.seed), tmp, args.repeat)
    print(f"gisapp screen: min {r['ours_min']:.2f} s, median {r['ours_median']:.2f} s, "
          f"peak {r['ours_mib']:.0f} MiB")
    print(f"naive script:  min {r['naive_min']:.2f} s, median {r['naive_median']:.2f} s, "
          f"peak {r['naive_mib']:.0f} MiB")
    print(f"ratio naive/ours (per pair): min {r['ratio_min']:.2f}x, median {r['ratio_median']:.2f}x")


if __name__ == "__main__":
    main()
