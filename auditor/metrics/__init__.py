"""Pure explanation-quality metrics (numpy/scipy only; no model objects).

Models enter as a batched callable ``f(inputs) -> (m,)`` giving the explained output (e.g. the
target-class probability); each metric calls it once for all the inputs it needs.  Conventions
(output space, baselines, sign, ties) follow ``/work/shared/reference/explanation-metrics.md``
and are stated in each function's docstring.
"""

from .agreement import (
    feature_agreement,
    pairwise_rank_agreement,
    rank_agreement,
    rank_correlation,
    sign_agreement,
    signed_rank_agreement,
)
from .faithfulness import (
    ERASER_BINS,
    aopc_comprehensiveness,
    aopc_sufficiency,
    completeness_gap,
    deletion_curve,
    efficiency_gap,
    faithfulness_correlation,
    insertion_curve,
    leave_one_out_correlation,
    normalised_auc,
    random_control,
    random_controls,
)
from .ranking import rank_order, tie_fraction, top_k
from .removal import TokenMask
from .stability import gaussian_perturbations, relative_input_stability, topk_agreement
from .statistics import bootstrap_ci, paired_wilcoxon_greater

__all__ = [
    "ERASER_BINS", "TokenMask",
    "rank_order", "tie_fraction", "top_k",
    "deletion_curve", "insertion_curve", "normalised_auc", "aopc_comprehensiveness",
    "aopc_sufficiency", "faithfulness_correlation", "leave_one_out_correlation", "completeness_gap", "efficiency_gap",
    "random_control", "random_controls",
    "feature_agreement", "rank_agreement", "sign_agreement", "signed_rank_agreement",
    "rank_correlation", "pairwise_rank_agreement",
    "topk_agreement", "relative_input_stability", "gaussian_perturbations",
    "bootstrap_ci", "paired_wilcoxon_greater",
]
