"""Rows of data as tensors, passed between the estimator, the strategies and the training loops."""

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Rows"]


@dataclass(frozen=True)
class Rows:
    """Features, labels and protected attribute of the same rows, as tensors on one device.

    Attributes
    ----------
    X : torch.Tensor of shape (n, ...)
    y : torch.Tensor of shape (n,)
        Labels, 0/1 float (1 is favourable).
    sensitive : torch.Tensor of shape (n,)
        Protected attribute, 0/1 float (1 is privileged).
    """

    X: torch.Tensor
    y: torch.Tensor
    sensitive: torch.Tensor

    @classmethod
    def from_arrays(cls, X, y, sensitive, device="cpu"):
        """Build from numpy arrays (or anything ``torch.as_tensor`` takes).

        Read-only arrays (pandas' copy-on-write hands those out) are copied,
        since torch cannot share memory it may not write.
        """
        return cls(*(torch.as_tensor(np.require(a, requirements="W"), device=device) for a in (X, y, sensitive)))

    @classmethod
    def concatenate(cls, parts):
        """The rows of every one of ``parts``, in order."""
        return cls(*(torch.cat([getattr(part, name) for part in parts]) for name in ("X", "y", "sensitive")))

    def __len__(self):
        return len(self.y)

    def __getitem__(self, index):
        return Rows(self.X[index], self.y[index], self.sensitive[index])
