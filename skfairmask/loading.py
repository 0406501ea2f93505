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

__all__ = ["UntrustedModelError", "load_model"]


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
    try:
        loaded.load_state_dict(content)
    except RuntimeError as error:
        raise ValueError(f"The weights in {path} do not fit the given module: {error}") from error
    return loaded


def _load_trusted_pickle(path, map_location):
    """A full pickle, written by ``torch.save`` or by plain ``pickle.dump``."""
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except (RuntimeError, pickle.UnpicklingError):
        with open(path, "rb") as file:
            return pickle.load(file)
