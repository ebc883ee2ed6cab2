"""``gisapp screen`` end to end against the naive script end to end, alternating runs.

    python benchmarks/bench_screen_cli.py [--seed N] [--repeat K] [--keep DIR] [--data few|many|both]

Both are fresh processes reading the same city-size GeoPackages (file reading, imports
and output writing included). Runs alternate ours/naive so machine noise hits both;
the min and median of each and of the per-pair ratio are printed, with peak memory, and
the ratio of CPU time (user + system), which a loaded machine stretches far less.
No assertion: the figures are printed for review.

Datasets (``--data``, comma-separated or ``all``; see ``screen_datasets.py``): ``few`` is
the city sample as generated (about 18,000 conflicting pairs); ``many`` the same network
with every site grown by 120 m (about 92,000 pairs, 45 % of the sites in conflict), where
writing the result weighs as much as finding it; ``long`` long pipelines (25 segments
merged); ``short`` about a million short pieces; ``big`` 150 sites of 1.2-3 km covering
hundreds of pipes each; ``geojson``, ``shp``, ``csv`` the ``many`` data in those formats.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_screening import GISAPP, ROOT, run_measured  # noqa: E402
from screen_datasets import SHAPES, dataset  # noqa: E402

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
    ours, naive, ours_mb, naive_mb, ours_cpu, naive_cpu = [], [], [], [], [], []
    for _ in range(repeat):
        o_s, o_mb, o_cpu = _run_with_cpu(ours_cmd)
        n_s, n_mb, n_cpu = _run_with_cpu(naive_cmd)
        ours.append(o_s)
        naive.append(n_s)
        ours_mb.append(o_mb)
        naive_mb.append(n_mb)
        ours_cpu.append(o_cpu)
        naive_cpu.append(n_cpu)
        print(
            f"  ours {o_s:.2f} s ({o_cpu:.2f} s CPU, {o_mb:.0f} MiB), naive {n_s:.2f} s "
            f"({n_cpu:.2f} s CPU, {n_mb:.0f} MiB): {n_s / o_s:.2f}x, CPU {n_cpu / o_cpu:.2f}x; "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    ratios = [n / o for n, o in zip(naive, ours, strict=True)]
    cpu_ratios = [n / o for n, o in zip(naive_cpu, ours_cpu, strict=True)]
    med = statistics.median
    return {
        "cpu_ratio_min": min(cpu_ratios),
        "cpu_ratio_median": med(cpu_ratios),
        "ours_min": min(ours),
        "ours_median": med(ours),
        "ours_mib": max(ours_mb),
        "naive_min": min(naive),
        "naive_median": med(naive),
        "naive_mib": max(naive_mb),
        "ratio_min": min(ratios),
        "ratio_median": med(ratios),
    }


def _run_with_cpu(cmd: list[str]) -> tuple[float, float, float]:
    """Return (wall seconds, peak MiB, CPU seconds: user + system of the child and its threads).

    On a loaded machine the wall time of both commands stretches with the queue for the
    cores; the CPU time is what each command itself costs.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, mib, _ = run_measured(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, mib, cpu


def _report(name: str, r: dict[str, float]) -> None:
    print(f"[{name}] gisapp screen: min {r['ours_min']:.2f} s, median {r['ours_median']:.2f} s, "
          f"peak {r['ours_mib']:.0f} MiB")
    print(f"[{name}] naive script:  min {r['naive_min']:.2f} s, median {r['naive_median']:.2f} s, "
          f"peak {r['naive_mib']:.0f} MiB")
    print(f"[{name}] ratio naive/ours (per pair): min {r['ratio_min']:.2f}x, "
          f"median {r['ratio_median']:.2f}x; CPU time min {r['cpu_ratio_min']:.2f}x, "
          f"median {r['cpu_ratio_median']:.2f}x; load average {os.getloadavg()[0]:.1f}", flush=True)


def _pairs(csv_path: Path) -> int:
    with open(csv_path, encoding="utf-8-sig") as fh:
        return sum(1 for _ in fh) - 1


def main() -> None:
    """Run the comparison on each dataset and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep/reuse the files in")
    parser.add_argument("--data", default="few,many", help=f"any of {','.join(SHAPES)}, or all")
    args = parser.parse_args()
    names = SHAPES if args.data == "all" else tuple(args.data.split(","))
    unknown = set(names) - set(SHAPES)
    if unknown:
        parser.error(f"unknown dataset {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        city = _files(folder, args.seed)
        for name in names:
            files = dataset(name, folder, city)
            print(f"[{name}] {files['projects'].name}:", flush=True)
            r = compare_end_to_end(files, tmp, args.repeat)
            print(f"[{name}] conflicting pairs: ours {_pairs(Path(tmp) / 'ours.csv')}, "
                  f"naive {_pairs(Path(tmp) / 'naive.csv')}")
            _report(name, r)


if __name__ == "__main__":
    main()
