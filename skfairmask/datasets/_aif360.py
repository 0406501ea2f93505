"""AIF360's Adult, COMPAS and German datasets, built offline from bundled raw files.

AIF360's dataset classes read their raw files from a fixed folder inside the
aif360 package and fail without it. Here the same raw files ship inside
skfairmask (see ``data/PROVENANCE.md``); they are read with the column names
AIF360 uses and handed to AIF360's own :class:`~aif360.datasets.StandardDataset`
with the defaults of the matching AIF360 class, read off its signature. The
preprocessing is therefore AIF360's, not a copy of it.
"""

import contextlib
import inspect
import logging
import warnings
from importlib.resources import files

import numpy as np
import pandas as pd

__all__ = [
    "aif360_compatible_pandas",
    "load_adult",
    "load_compas",
    "load_german",
    "to_binary_label_dataset",
]

_ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
    "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
    "hours-per-week", "native-country", "income-per-year",
]
_GERMAN_COLUMNS = [
    "status", "month", "credit_history", "purpose", "credit_amount", "savings",
    "employment", "investment_as_income_percentage", "personal_status",
    "other_debtors", "residence_since", "property", "age", "installment_plans",
    "housing", "number_of_credits", "skill_level", "people_liable_for",
    "telephone", "foreign_worker", "credit",
]


@contextlib.contextmanager
def aif360_compatible_pandas():
    """Turn off pandas 3's string dtype, which aif360 0.6.1 cannot read, for a block.

    Use it around any call into aif360 that builds or reads a dataset.
    """
    with warnings.catch_warnings():
        # pandas announces the option's removal in 4.0; aif360 needs it until then.
        warnings.filterwarnings("ignore", message=".*future.infer_string", category=Warning)
        with pd.option_context("future.infer_string", False):
            yield


@contextlib.contextmanager
def _quiet_logging():
    """Hold back log records below ERROR: aif360 logs "Missing Data: N rows removed" on every load."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def _raw(name):
    return files("skfairmask.datasets") / "data" / name


def _read_adult(na_values):
    train = pd.read_csv(_raw("adult.data.gz"), header=None, names=_ADULT_COLUMNS,
                        skipinitialspace=True, na_values=na_values)
    test = pd.read_csv(_raw("adult.test.gz"), header=0, names=_ADULT_COLUMNS,
                       skipinitialspace=True, na_values=na_values)
    return pd.concat([test, train], ignore_index=True)


def _read_compas(na_values):
    return pd.read_csv(_raw("compas-scores-two-years.csv.gz"), index_col="id", na_values=na_values)


def _read_german(na_values):
    return pd.read_csv(_raw("german.data.gz"), sep=" ", header=None, names=_GERMAN_COLUMNS,
                       na_values=na_values)


def _aif360_class(name):
    with _quiet_logging():  # importing aif360 logs the optional extras it lacks
        import aif360.datasets

    return getattr(aif360.datasets, name)


def _load(class_name, read, protected, as_aif360):
    aif360_class = _aif360_class(class_name)
    defaults = {
        name: p.default for name, p in inspect.signature(aif360_class.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    names = defaults["protected_attribute_names"]
    if protected not in names:
        raise ValueError(f"protected must be one of {names} for {class_name}, got {protected!r}.")

    from aif360.datasets import StandardDataset

    with aif360_compatible_pandas(), _quiet_logging():
        dataset = StandardDataset(df=read(defaults["na_values"]), **defaults)
        if as_aif360:
            return dataset
        frame, _ = dataset.convert_to_dataframe()
    frame = frame.reset_index(drop=True)
    label = dataset.label_names[0]
    y = (frame.pop(label) == dataset.favorable_label).astype(int).rename(label)
    A = (frame[protected] == dataset.privileged_protected_attributes[names.index(protected)][0])
    return frame, y, A.astype(int).rename(protected)


_RETURNS = """
    Parameters
    ----------
    protected : str
        The protected attribute returned as ``A``.
    as_aif360 : bool, default=False
        Return AIF360's ``BinaryLabelDataset`` (every default protected
        attribute kept) instead of ``(X, y, A)``.

    Returns
    -------
    X : pandas.DataFrame
        Features as AIF360 prepares them (one-hot categoricals; the protected
        attributes binarised, 1 = privileged, and kept as features).
    y : pandas.Series
        1 for the favourable label, 0 otherwise.
    A : pandas.Series
        The protected attribute, 1 = privileged.
"""


def load_adult(protected="sex", *, as_aif360=False):
    return _load("AdultDataset", _read_adult, protected, as_aif360)


def load_compas(protected="race", *, as_aif360=False):
    return _load("CompasDataset", _read_compas, protected, as_aif360)


def load_german(protected="age", *, as_aif360=False):
    return _load("GermanDataset", _read_german, protected, as_aif360)


load_adult.__doc__ = (
    "UCI Adult income (45,222 rows), as AIF360's ``AdultDataset``; favourable: income >50K.\n"
    "\n    ``protected`` is ``\"sex\"`` (Male privileged) or ``\"race\"`` (White privileged).\n" + _RETURNS
)
load_compas.__doc__ = (
    "ProPublica COMPAS two-year recidivism (6,167 rows), as AIF360's ``CompasDataset``; "
    "favourable: no recidivism.\n"
    "\n    ``protected`` is ``\"race\"`` (Caucasian privileged) or ``\"sex\"`` (Female privileged).\n"
    + _RETURNS
)
load_german.__doc__ = (
    "UCI Statlog German credit (1,000 rows), as AIF360's ``GermanDataset``; favourable: good credit.\n"
    "\n    ``protected`` is ``\"age\"`` (over 25 privileged) or ``\"sex\"`` (male privileged).\n"
    + _RETURNS
)


def to_binary_label_dataset(X, y, sensitive, *, scores=None, protected_name="sensitive"):
    """Wrap arrays as AIF360's ``BinaryLabelDataset`` (favourable label 1, privileged 1).

    Parameters
    ----------
    X : array-like of shape (n, d)
    y : array-like of shape (n,)
        Labels (or predictions) coded 0/1.
    sensitive : array-like of shape (n,)
        Protected attribute coded 0/1 (1 = privileged).
    scores : array-like of shape (n,), optional
        Probabilities of the favourable label, stored as the dataset's ``scores``.
    protected_name : str, default="sensitive"
        Column name of the protected attribute; use it in AIF360's
        ``privileged_groups=[{protected_name: 1}]``.

    Returns
    -------
    aif360.datasets.BinaryLabelDataset
    """
    from aif360.datasets import BinaryLabelDataset

    X = np.asarray(X, dtype=float)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame[protected_name] = np.asarray(sensitive, dtype=float)
    frame["label"] = np.asarray(y, dtype=float)
    with aif360_compatible_pandas():
        dataset = BinaryLabelDataset(
            df=frame, label_names=["label"], protected_attribute_names=[protected_name],
            favorable_label=1.0, unfavorable_label=0.0,
        )
    if scores is not None:
        dataset.scores = np.asarray(scores, dtype=float).reshape(-1, 1)
    return dataset


def is_binary_label_dataset(obj):
    """Whether ``obj`` is an AIF360 ``BinaryLabelDataset`` (checked without importing AIF360)."""
    return any(cls.__name__ == "BinaryLabelDataset" and cls.__module__.startswith("aif360")
               for cls in type(obj).__mro__)


def from_binary_label_dataset(dataset, prot_attr=None):
    """Unwrap AIF360's ``BinaryLabelDataset`` into ``X, y, sensitive``.

    Parameters
    ----------
    dataset : aif360.datasets.BinaryLabelDataset
    prot_attr : str, optional
        Which protected attribute to return; the dataset's first if omitted.

    Returns
    -------
    X : pandas.DataFrame
        The dataset's features, named (AIF360 keeps the protected attributes
        among them).
    y : ndarray of shape (n,)
        1 for the dataset's favourable label, 0 otherwise.
    sensitive : ndarray of shape (n,)
        1 for the dataset's privileged values of ``prot_attr``, 0 otherwise.
    """
    names = list(dataset.protected_attribute_names)
    prot_attr = names[0] if prot_attr is None else prot_attr
    if prot_attr not in names:
        raise ValueError(f"prot_attr={prot_attr!r} is not a protected attribute of the dataset; it has {names}.")
    column = names.index(prot_attr)
    privileged = np.ravel(dataset.privileged_protected_attributes[column])
    sensitive = np.isin(dataset.protected_attributes[:, column], privileged).astype(int)
    X = pd.DataFrame(dataset.features, columns=list(dataset.feature_names))
    y = (dataset.labels.ravel() == dataset.favorable_label).astype(int)
    return X, y, sensitive
