"""Plain-language definitions of the terms the report uses, printed as its glossary."""

from __future__ import annotations

GLOSSARY: list[tuple[str, str]] = [
    ("Attribution", "How much one input feature (or word) pushed the model's output for one case, as "
     "computed by an explainer such as SHAP, LIME or integrated gradients."),
    ("SHAP", "Shapley additive explanations: each feature's share of the difference between the model's output "
     "for a case and its average output over background data, split as in a cooperative game (every order of "
     "adding the features averaged), so the shares add up to that difference."),
    ("LIME", "Local interpretable model-agnostic explanations: the model is asked about many copies of a case "
     "with random features (or words) removed, and a weighted linear model fitted to its answers near the "
     "case; its coefficients are the attributions. A sampling method: another seed gives somewhat other values."),
    ("Integrated gradients", "The gradient of the model's output with respect to its input, averaged along the "
     "straight path from a baseline input (all words masked; a table's mean) to the case and multiplied by the "
     "difference between them; the attributions add up to the change in output along that path."),
    ("Faithfulness", "Whether the features an explanation ranks as most important really drive the "
     "prediction: removing them should change the model's output more than removing others."),
    ("Deletion AUC", "Remove features one at a time, most important first, and follow the probability of "
     "the explained class (a regressor: the prediction's signed distance from the all-features-removed "
     "prediction, in the target's units). The area under that curve, divided by the full input's value, is "
     "small when the explanation found the features that matter: about 0 to 1, above 1 when removing or "
     "adding features overshoots the full input's value, and for a regressor negative when the prediction "
     "crosses the all-removed one. Insertion AUC is the reverse (add features back; larger is better)."),
    ("AOPC", "Area over the perturbation curve: the average drop in the explained class's probability "
     "(a regressor: in the prediction's signed distance from the all-features-removed prediction, in the "
     "target's units) when the top-ranked features are removed (comprehensiveness), or kept alone "
     "(sufficiency)."),
    ("Faithfulness correlation", "Correlation, over random subsets of features, between the attributions "
     "of a subset and the change in output when that subset is removed."),
    ("Leave-one-out (LOO) correlation", "Correlation, over an instance's features (or tokens), between each one's "
     "attribution and the change in output when that feature alone is removed: Pearson's r for a table (the "
     "faithfulness estimate), Kendall's τ for text (τ-LOO). It ignores interactions between features."),
    ("Control", "The same explanation values placed on randomly shuffled features. A trustworthy "
     "explainer must do better than its control; otherwise its ranking carries no information."),
    ("Gap", "The explainer's score minus its control's, oriented so that a positive gap means the "
     "explainer is better. The report gives its centre over instances (the Hodges-Lehmann estimate: the "
     "median of the pairwise averages of the instances' gaps) and the 95% confidence interval of "
     "Wilcoxon's signed-rank test."),
    ("Confidence interval (CI)", "A range that contains the true value in 95% of repeated samples, "
     "obtained here by resampling the evaluation rows or instances (bootstrap; for a largest difference "
     "between groups from bounds that hold for every pair of groups at once, for a smallest ratio "
     "bias-corrected, since the resamples of either lean away from it), for accuracy exactly "
     "(binomial), for ROC AUC from DeLong's variance, for a paired accuracy drop (the same rows "
     "under two prompts) from Tango's score test, and for an explainer's gap to its random control "
     "from Wilcoxon's signed-rank test."),
    ("MAE / RMSE / R²", "A regressor's errors, in the target's units: MAE is the mean absolute error "
     "(the average |true − predicted|), RMSE the root mean squared error (which weighs large errors more); "
     "R² is the share of the target's variance the predictions explain (1: perfect, 0: no better than "
     "predicting the mean, below 0: worse)."),
    ("p-value", "The probability of a result at least this favourable if the explainer were no better "
     "than its control (one-sided paired Wilcoxon test). Values below 0.001 are printed as <\u00a00.001."),
    ("ROC AUC", "The probability that the model scores a randomly chosen case of the positive class above a "
     "randomly chosen case of the other (0.5: no better than chance, 1: perfect ranking); with three or more "
     "classes, the mean over the classes of each class against the rest (macro)."),
    ("Brier score", "The mean squared difference between the predicted probabilities and what happened (1 for "
     "the true class, 0 otherwise): 0 is perfect, and lower is better; it rewards calibrated probabilities."),
    ("F1 / balanced accuracy", "F1: the harmonic mean of precision (the share of predicted positives that are "
     "positive) and recall (the share of positives found). Balanced accuracy: the mean over the classes of each "
     "class's recall, so a rare class counts as much as a common one."),
    ("Selection rate / four-fifths rule", "A group's selection rate is the share of its cases given the "
     "favourable outcome. The four-fifths rule (US Uniform Guidelines, 29 CFR 1607.4(D)) flags adverse impact "
     "where a group's rate is below four fifths (0.8) of the highest group's."),
    ("Demographic parity / equalised odds", "Demographic parity difference: the largest gap in selection "
     "rate between groups. Equalised odds difference: the larger of the largest gaps in true-positive rate and "
     "in false-positive rate between groups (0: the model errs alike in every group)."),
    ("Cramér's V", "The strength of association between two categorical columns (numeric ones binned), from 0 "
     "(independent) to 1 (one determines the other); a feature strongly associated with a sensitive one can "
     "act as its proxy."),
    ("Silhouette", "How well separated clusters are: for each case, how much nearer it is to its own cluster "
     "than to the next one, from −1 to 1, averaged; near 0 the cohorts are not distinct groups."),
    ("MAD", "Median absolute deviation: the median distance of a feature's values from their median, a spread "
     "that a few extreme values do not inflate; counterfactual distances are counted in it."),
    ("Rank correlation", "Spearman's ρ between two orderings of the same features: 1 when they rank "
     "features identically, 0 when unrelated, −1 when reversed."),
    ("Top-k agreement", "The share of the k most important features that two explanations have in common "
     "(1 = the same k features)."),
    ("Relative input stability", "How much an explanation changes relative to how much its input changed, "
     "on a log scale: 0 means the explanation moved as much as the input, 1 means ten times more."),
    ("Sanity (model randomisation)", "Explanations of a model whose learning has been destroyed must differ "
     "from those of the real model; a low rank correlation between the two means the explanation "
     "depends on what the model learned."),
    ("Efficiency / completeness", "The attributions of a case must add up to the model's output minus the "
     "output for a baseline input (SHAP: efficiency; integrated gradients: completeness)."),
    ("Counterfactual (recourse)", "The smallest change to a case's features, within the range of values seen "
     "in the data (a number between them, a category among them) and leaving the card's immutable features alone, that makes the model decide otherwise (a regressor: "
     "that moves its prediction by the check's target shift towards the predictions' median): what would "
     "have to change. Recourse is a counterfactual of a decision against the card's favourable class that "
     "reaches it; a favourable decision that a change could lose is a counterfactual, not recourse."),
    ("Partial dependence / ICE", "The model's average output as one feature is swept over its range with "
     "the other features as observed (partial dependence), and the same sweep for single cases (ICE "
     "curves). ICE heterogeneity is the share of the curves' variation the average leaves out: 0 when "
     "they run parallel, near 1 when the feature acts differently from case to case."),
    ("Informational (INFO)", "A check with no warning or blocking threshold in the policy (none at all, or "
     "only info thresholds, which are recorded but never change a status): its evidence is for the reader and "
     "it cannot pass or fail. It does not change the overall status."),
    ("Waiver", "A finding accepted by a named approver until an expiry date, reported as WAIVED, never "
     "as a pass."),
    ("Clopper-Pearson interval", "The exact confidence interval of a share (k of n) from the binomial "
     "distribution: never narrower than the data allow, so 10 of 10 gives 0.69 to 1, not 1 to 1."),
    ("Bonferroni correction", "Each of k comparisons judged at 1 − 0.05/k instead of 95%, so that the largest "
     "of them (the worst cohort, the worst paraphrase) is wrong at most 5% of the time, not once per comparison."),
    ("Newcombe interval", "A confidence interval for the difference of two shares (a cohort's accuracy against "
     "the rest's), built from each share's Wilson interval."),
    ("Adjusted Rand index", "How alike two clusterings of the same cases are: 1 when they group the cases "
     "identically, near 0 when no more alike than chance."),
    ("Attention rollout", "Attention traced through every layer (each layer's mean attention, half of it kept "
     "on the token itself, multiplied layer by layer), rather than the last layer's alone; still attention, "
     "not an explanation."),
    ("DeLong interval", "The confidence interval of a ROC AUC computed from how each positive case ranks "
     "against the negatives and each negative against the positives (DeLong et al. 1988), without resampling."),
    ("Wilson interval", "A confidence interval of a share (k of n) that stays inside 0 to 1 and keeps close to "
     "its nominal level at small n and at shares near 0 or 1."),
    ("Max-T bootstrap", "Intervals for several differences at once (every pair of groups): each is its "
     "difference ± c standard errors, with c the 95th percentile over resamples of the largest standardised "
     "deviation among all of them, so that all hold together 95% of the time."),
    ("Effective sample size (Kish)", "How many unweighted cases a set of weighted cases is worth: (Σw)² / Σw². "
     "Rows reweighted to stand for the evaluation set count for less than their number when weights differ."),
    ("ERASER", "A benchmark of rationale faithfulness (DeYoung et al. 2020) whose comprehensiveness and "
     "sufficiency scores the report's AOPC follows."),
    ("True- and false-positive rates (TPR, FPR)", "Among the cases truly of the positive class, the share the "
     "model predicts positive (TPR); among the others, the share it predicts positive all the same (FPR)."),
    ("Partition SHAP", "SHAP for text: the words are grouped into a hierarchy of neighbouring spans and the "
     "Shapley values computed over that tree, which needs far fewer model calls than every coalition of words."),
]

# The checks a term belongs to: a report defines it only where one of them ran (the four-fifths rule in a
# text model's report, ROC AUC in a regressor's, were words it never used). A term not listed is general.
TERM_CHECKS: dict[str, frozenset[str]] = {
    "Deletion AUC": frozenset({"explanation_faithfulness", "explanation_clustering"}),
    "AOPC": frozenset({"explanation_faithfulness"}),
    "Faithfulness correlation": frozenset({"explanation_faithfulness"}),
    "Leave-one-out (LOO) correlation": frozenset({"explanation_faithfulness"}),
    "Selection rate / four-fifths rule": frozenset({"subgroup_fairness"}),
    "Demographic parity / equalised odds": frozenset({"subgroup_fairness"}),
    "Cramér's V": frozenset({"subgroup_fairness"}),
    "Silhouette": frozenset({"explanation_clustering"}),
    "Adjusted Rand index": frozenset({"explanation_clustering"}),
    "Newcombe interval": frozenset({"explanation_clustering"}),
    "MAD": frozenset({"counterfactuals"}),  # the recourse distance's scale (a text attack swaps words)
    "Counterfactual (recourse)": frozenset({"counterfactuals"}),
    "Partial dependence / ICE": frozenset({"partial_dependence"}),
    "Relative input stability": frozenset({"explanation_stability"}),
    "Sanity (model randomisation)": frozenset({"explanation_sanity"}),
    "Efficiency / completeness": frozenset({"explanation_axioms"}),
    "Attention rollout": frozenset({"attention"}),
    "Partition SHAP": frozenset({"text_explanations"}),
    "DeLong interval": frozenset({"performance"}),
    "MAE / RMSE / R²": frozenset({"performance", "explanation_clustering"}),
    "Wilson interval": frozenset({"explanation_clustering"}),
    "Max-T bootstrap": frozenset({"subgroup_fairness"}),
    "Effective sample size (Kish)": frozenset({"explanation_clustering"}),
    "ERASER": frozenset({"explanation_faithfulness"}),
    "True- and false-positive rates (TPR, FPR)": frozenset({"subgroup_fairness"}),
}

# Terms of classification only: a regressor's report leaves them out (it has no classes, probabilities
# or selection rates to define).
CLASSIFICATION_TERMS = frozenset({"ROC AUC", "Brier score", "F1 / balanced accuracy", "Selection rate / four-fifths rule",
                                  "Demographic parity / equalised odds", "DeLong interval",
                                  "True- and false-positive rates (TPR, FPR)",
                                  # a classifier's cohort accuracies (a regressor's cohorts compare MAEs by bootstrap)
                                  "Newcombe interval", "Wilson interval", "Effective sample size (Kish)"})

# Terms of a regressor's report only: its headline metrics, which the concrete report used on every
# page without defining them.
REGRESSION_TERMS = frozenset({"MAE / RMSE / R²"})

# Entries worded for one kind of model: a regressor's report reads these instead (its confidence
# interval entry explained accuracy, ROC AUC and Tango's paired drop, none of which it has).
REGRESSION_MEANINGS = {
    "Confidence interval (CI)": (
        "A range that contains the true value in 95% of repeated samples, obtained here by resampling the "
        "evaluation rows or instances (bootstrap: MAE, RMSE, R², a cohort's MAE and its ratio to the rest's), "
        "and for an explainer's gap to its random control from Wilcoxon's signed-rank test."),
    "Counterfactual (recourse)": (
        "The smallest change to a case's features, within the range of values seen in the data (a number between "
        "them, a category among them) and leaving the card's immutable features alone, that moves the model's "
        "prediction by the check's target shift towards the predictions' median: how sensitive a prediction is "
        "to small changes. A regressor decides nothing, so its counterfactuals are not recourse."),
}


def glossary_for(task: str, checks_run: set[str] | None = None) -> list[tuple[str, str]]:
    """The glossary of a report on a model of ``task`` whose checks ``checks_run`` ran (None: every
    term of the task): a term of classification only in a classifier's, a check's term where it ran."""
    regression = task.endswith("regression")
    return [(term, REGRESSION_MEANINGS.get(term, meaning) if regression else meaning) for term, meaning in GLOSSARY
            if not (regression and term in CLASSIFICATION_TERMS) and (regression or term not in REGRESSION_TERMS)
            and (checks_run is None or term not in TERM_CHECKS or TERM_CHECKS[term] & checks_run)]
