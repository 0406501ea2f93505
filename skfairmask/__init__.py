"""skfairmask: debias a pre-trained PyTorch classifier without retraining it."""

from ._debiaser import FairMaskDebiaser
from .metrics import make_phi_scorer, phi_score

__all__ = ["FairMaskDebiaser", "make_phi_scorer", "phi_score", "__version__"]
__version__ = "0.1.0"
