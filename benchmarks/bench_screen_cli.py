"""``gisapp screen`` end to end against the naive script end to end, alternating runs.

    python benchmarks/bench_screen_cli.py [--seed N] [--repeat K] [--keep DIR] [--data few|many|both]

Both are fresh processes reading the same city-size GeoPackages (file reading, imports
and output writing included). Runs alternate ours/naive so machine noise hits both;
the min and median of each and of the per-pair ratio are printed, with peak memory.
No assertion: the figures are printed for review.

Two datasets: ``few`` is the city sample as generated (about 18,000 conflicting pairs);
``many`` is the same network with every site grown by ``--grow`` metres (default 120:
about 92,000 pairs, 45 % of the sites in conflict), where writing the result weighs as
much as finding it.
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


def grown_sites(folder: Path, sites: Path, grow_m: float) -> dict[str, Path]:
    """Write (or reuse) the high-conflict dataset: the same pipelines, each site grown by ``grow_m``."""
    import numpy as np

    import geopandas as gpd
    import shapely

    from layers.projection import lonlat_to_metric
    from spatial_rules.crs import from_metric

    out = {"pipelines": folder / "pipelines.gpkg", "projects": folder / f"projects_grown_{grow_m:g}m.gpkg"}
    if out["projects"].exists():
        return out
    frame = gpd.read_file(sites, engine="pyogrio")
    grown = shapely.buffer(lonlat_to_metric(frame.geometry.to_numpy()), grow_m, quad_segs=4)
    back = from_metric()

    def to_lonlat(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(back.transform(xy[:, 0], xy[:, 1]))

    frame = frame.set_geometry(gpd.GeoSeries(shapely.transform(grown, to_lonlat), crs=frame.crs))
    frame.to_file(out["projects"], driver="GPKG", layer="projects", engine="pyogrio")
    return out


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


def _report(name: str, r: dict[str, float]) -> None:
    print(f"[{name}] gisapp screen: min {r['ours_min']:.2f} s, median {r['ours_median']:.2f} s, "
          f"peak {r['ours_mib']:.0f} MiB")
    print(f"[{name}] naive script:  min {r['naive_min']:.2f} s, median {r['naive_median']:.2f} s, "
          f"peak {r['naive_mib']:.0f} MiB")
    print(f"[{name}] ratio naive/ours (per pair): min {r['ratio_min']:.2f}x, "
          f"median {r['ratio_median']:.2f}x", flush=True)


def _pairs(csv_path: Path) -> int:
    with open(csv_path, encoding="utf-8-sig") as fh:
        return sum(1 for _ in fh) - 1


def main() -> None:
    """Run the comparison on each dataset and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep/reuse the files in")
    parser.add_argument("--data", choices=("few", "many", "both"), default="both")
    parser.add_argument("--grow", type=float, default=120.0, help="metres the sites grow by for 'many'")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        city = _files(folder, args.seed)
        datasets = {"few": city, "many": None}
        for name in ("few", "many") if args.data == "both" else (args.data,):
            files = datasets[name] or grown_sites(folder, city["projects"], args.grow)
            print(f"[{name}] {files['projects'].name}:", flush=True)
            r = compare_end_to_end(files, tmp, args.repeat)
            print(f"[{name}] conflicting pairs: ours {_pairs(Path(tmp) / 'ours.csv')}, "
                  f"naive {_pairs(Path(tmp) / 'naive.csv')}")
            _report(name, r)


if __name__ == "__main__":
    main()
