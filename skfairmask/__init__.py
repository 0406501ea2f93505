"""skfairmask: debias a pre-trained PyTorch classifier without retraining it."""

from ._debiaser import FairMaskDebiaser
from .objective import phi_score
from .model_selection import fairness_scoring, make_phi_scorer, select_fair_best, select_within_noise

__all__ = ["FairMaskDebiaser", "fairness_scoring", "make_phi_scorer", "phi_score", "select_fair_best",
           "select_within_noise", "__version__"]
__version__ = "0.1.0"
