"""Size parameters of the two sample scales (district: realistic; city: load test)."""

from __future__ import annotations

from dataclasses import dataclass

from layers.sample.errors import SampleError


@dataclass(frozen=True)
class ScaleSpec:
    """How dense the networks are and how many projects there are (lengths in metres)."""

    name: str
    n_projects: int
    n_pipelines: int | None  # exact total, or None to keep what the networks give
    town_spacing_m: tuple[float, float, float]  # grid spacing for town size 1, 2, 3
    town_half_m: tuple[tuple[float, float], ...]  # grid half extents for size 1, 2, 3
    n_villages: int
    village_spacing_m: float
    village_half_m: tuple[float, float]  # min and max half extent
    edge_drop: float  # share of side streets left without a main
    services_per_edge: float  # low-pressure service lines per medium segment
    trunk_segment_m: tuple[float, float]
    near_share: float  # share of projects placed deliberately near a pipeline


DISTRICT = ScaleSpec(
    name="district",
    n_projects=220,
    n_pipelines=None,
    town_spacing_m=(320.0, 300.0, 280.0),
    town_half_m=((900.0, 650.0), (1200.0, 900.0), (1700.0, 1300.0)),
    n_villages=0,
    village_spacing_m=200.0,
    village_half_m=(200.0, 300.0),
    edge_drop=0.2,
    services_per_edge=0.6,
    trunk_segment_m=(300.0, 500.0),
    near_share=0.2,
)

CITY = ScaleSpec(
    name="city",
    n_projects=10_000,
    n_pipelines=300_000,
    town_spacing_m=(170.0, 160.0, 150.0),
    town_half_m=((1500.0, 1200.0), (2200.0, 1700.0), (3200.0, 2400.0)),
    n_villages=3_000,
    village_spacing_m=130.0,
    village_half_m=(280.0, 520.0),
    edge_drop=0.15,
    services_per_edge=0.0,  # the low-pressure count fills up to n_pipelines
    trunk_segment_m=(200.0, 400.0),
    near_share=0.2,
)

SCALES = {"district": DISTRICT, "city": CITY}


def scale_spec(scale: str | ScaleSpec) -> ScaleSpec:
    """Return the spec named ``district`` or ``city`` (a ScaleSpec passes through)."""
    if isinstance(scale, ScaleSpec):
        return scale
    try:
        return SCALES[str(scale)]
    except KeyError:
        known = "、".join(SCALES)
        raise SampleError(f"未知的示例数据规模“{scale}”（可用：{known}）") from None
