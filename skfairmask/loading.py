"""Reading a model from a file without running code from it.

A pickle runs code when it is loaded, so a model file from elsewhere is read
with ``torch.load(weights_only=True)``, which accepts tensors and plain
containers only. A full pickle (a whole module saved with ``torch.save(module)``,
or a pickled skorch net) is read only when the caller opts in with
``trust_pickle=True``.
"""

import copy
import pickle
import warnings

import torch

__all__ = ["DECISION_RULE", "UntrustedModelError", "load_decision_rule", "load_model", "save_decision_rule"]

#: The file beside a saved model that holds how its output becomes a decision.
DECISION_RULE = "decision_rule.json"


class UntrustedModelError(ValueError):
    """A model file is a full pickle, and loading it was not trusted explicitly."""


def load_model(path, module=None, *, trust_pickle=False, map_location="cpu"):
    """Load a network from ``path``, refusing code-running pickles unless trusted.

    Parameters
    ----------
    path : str or path-like
        A ``state_dict`` file (``torch.save(module.state_dict(), path)`` or
        skorch's ``save_params(f_params=path)``), or, with ``trust_pickle``,
        a full pickle of a ``torch.nn.Module`` or a skorch net.
    module : torch.nn.Module, optional
        An instance of the network's architecture, needed for a
        ``state_dict`` file. It is copied, never changed.
    trust_pickle : bool, default=False
        Allow a full pickle. Only for files from a source you trust: loading
        one runs whatever code it names.
    map_location : str or torch.device, default="cpu"

    Returns
    -------
    torch.nn.Module or skorch net
        What ``FairMaskDebiaser(estimator=...)`` accepts.

    Raises
    ------
    UntrustedModelError
        If the file is a full pickle and ``trust_pickle`` is False.
    ValueError
        If the file holds weights but ``module`` is missing or does not fit them.
    """
    try:
        with warnings.catch_warnings():
            # A plain pickle.dump file trips a protocol warning before it is refused.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            content = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if not trust_pickle:
            raise UntrustedModelError(
                f"{path} is a full pickle, not a weights file, and loading it would run code named "
                "in it. Save the weights with torch.save(module.state_dict(), path) and pass the "
                "architecture as module=..., or pass trust_pickle=True (on the command line, "
                "--trust-pickle) only if you trust the file's source."
            ) from error
        return _load_trusted_pickle(path, map_location)
    if not isinstance(content, dict) or not all(torch.is_tensor(v) for v in content.values()):
        raise ValueError(f"{path} holds neither a network nor a state_dict of tensors.")
    if module is None:
        raise ValueError(
            f"{path} holds weights only (a state_dict); pass module=..., an instance of the "
            "network's architecture, to load them into."
        )
    loaded = copy.deepcopy(module)
    missing, unexpected, resized = _mismatch(loaded.state_dict(), content)
    if missing or unexpected or resized:
        parts = [f"{label} {names[:3]}{' …' if len(names) > 3 else ''}"
                 for label, names in (("missing", missing), ("unexpected", unexpected), ("other shapes", resized))
                 if names]
        raise ValueError(f"The weights in {path} do not fit the given architecture ({'; '.join(parts)}).")
    loaded.load_state_dict(content)
    return loaded


def _mismatch(expected, given):
    """Names missing from ``given``, names it has in excess, and names whose shapes differ."""
    missing = [name for name in expected if name not in given]
    unexpected = [name for name in given if name not in expected]
    resized = [name for name in expected if name in given and tuple(expected[name].shape) != tuple(given[name].shape)]
    return missing, unexpected, resized


def _load_trusted_pickle(path, map_location):
    """A full pickle, written by ``torch.save`` or by plain ``pickle.dump``."""
    try:
        try:
            return torch.load(path, map_location=map_location, weights_only=False)
        except (RuntimeError, pickle.UnpicklingError):
            with open(path, "rb") as file:
                return pickle.load(file)
    except (ModuleNotFoundError, AttributeError) as error:
        raise ValueError(f"{path} is a pickle of a class that cannot be imported here ({error}); run from the "
                         "folder that holds its module (or put it on PYTHONPATH), or save a state_dict "
                         "instead.") from error


def save_decision_rule(debiaser, directory, **provenance):
    """Write :data:`DECISION_RULE` for a fitted debiaser: how its network's output becomes a decision.

    The saved ``state_dict`` holds the weights; this file holds the rest of
    the model: the class labels (in order, the last favourable), the
    threshold, the input offset of the ``offset`` strategy, and the
    certificate of the fit, so that a re-audit reproduces the fitted
    predictions exactly.

    Parameters
    ----------
    debiaser : FairMaskDebiaser
        Fitted, binary.
    directory : str or path-like
    **provenance
        More entries to record (the data file, the column names).

    Returns
    -------
    pathlib.Path
    """
    import json
    from pathlib import Path

    offset = debiaser.net_.module_.input_offset
    rule = {
        "classes": [c.item() if hasattr(c, "item") else c for c in debiaser.classes_],
        "threshold": debiaser.threshold_,
        "input_offset": None if offset is None else offset.cpu().tolist(),
        "input_shape": list(debiaser.input_shape_),
        "strategy": debiaser.strategy_, "bias_metric": debiaser.bias_metric, "epsilon": debiaser.epsilon,
        "confidence": debiaser.confidence, "certificate": debiaser.certificate_, **provenance,
    }
    path = Path(directory) / DECISION_RULE
    path.write_text(json.dumps(rule, indent=1, default=str))
    return path


def load_decision_rule(path):
    """Read a :data:`DECISION_RULE` file (see :func:`save_decision_rule`).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict
    """
    import json

    return json.loads(open(path).read())
