"""Per-epoch progress bars, quiet unless asked for: one system for the debiaser's phases and base training."""

from skorch.callbacks import Callback
from tqdm.auto import tqdm

__all__ = ["EpochProgress", "SkorchProgress"]

_SHOWN = ("loss", "train_loss", "density", "bias", "rank")


class EpochProgress:
    """Makes one tqdm bar per training phase.

    Parameters
    ----------
    verbose : int
        Bars are shown when positive.
    """

    def __init__(self, verbose=0):
        self.verbose = verbose

    def __call__(self, phase, total):
        """A callback for ``phase`` that advances a bar by one epoch per call (a no-op when quiet)."""
        if not self.verbose:
            return _quiet
        bar = tqdm(total=total, desc=phase, leave=True, dynamic_ncols=True)

        def on_epoch_end(record):
            bar.set_postfix({k: f"{record[k]:.4f}" for k in _SHOWN if k in record})
            bar.update(1)
            if bar.n >= total:
                bar.close()

        return on_epoch_end


class SkorchProgress(Callback):
    """An :class:`EpochProgress` bar for a skorch net's training, showing its training loss.

    Parameters
    ----------
    tick : callable
        What ``EpochProgress(verbose)(phase, epochs)`` returned.
    """

    def __init__(self, tick):
        self.tick = tick

    def on_epoch_end(self, net, **kwargs):
        self.tick({"train_loss": net.history[-1, "train_loss"]})


def _quiet(record):
    """The callback when no bar is shown."""
