"""Datasets: AIF360's Adult, COMPAS and German offline, synthetic biased data, and skewed images."""

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
from ._vision import SkewedSplit, grayscale, load_cifar10, make_skewed

__all__ = [
    "ProtocolSplit",
    "SkewedSplit",
    "aif360_compatible_pandas",
    "from_binary_label_dataset",
    "grayscale",
    "is_binary_label_dataset",
    "load_adult",
    "load_cifar10",
    "load_compas",
    "load_german",
    "make_biased_classification",
    "make_skewed",
    "protocol_split",
    "to_binary_label_dataset",
]
