"""Reading and writing the geodata files people have, with validation (no database here)."""

from layers.io.crs_input import GCJ02, resolve_crs
from layers.io.errors import FeatureProblem, InputFileError
from layers.io.reader import LayerReadResult, read_layer
from layers.io.writer import write_layer

__all__ = [
    "GCJ02",
    "FeatureProblem",
    "InputFileError",
    "LayerReadResult",
    "read_layer",
    "resolve_crs",
    "write_layer",
]
