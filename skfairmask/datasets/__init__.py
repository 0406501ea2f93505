"""Datasets: AIF360's Adult, COMPAS and German offline, and synthetic biased data."""

from ._aif360 import (
    aif360_compatible_pandas,
    from_binary_label_dataset,
    is_binary_label_dataset,
    load_adult,
    load_compas,
    load_german,
    to_binary_label_dataset,
)
from ._protocol import ProtocolSplit, protocol_split
from ._synthetic import make_biased_classification

__all__ = [
    "ProtocolSplit",
    "aif360_compatible_pandas",
    "from_binary_label_dataset",
    "is_binary_label_dataset",
    "load_adult",
    "load_compas",
    "load_german",
    "make_biased_classification",
    "protocol_split",
    "to_binary_label_dataset",
]
