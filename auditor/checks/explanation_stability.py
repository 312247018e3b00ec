"""explanation_stability: does an explanation survive a re-run, a new seed, a tiny change of input?

Three views (reference §3.3, §3.4, §10 S1–S3):

* **Seed stability** (stochastic explainers only: ``EXPLAINERS[...].stochastic`` and a
  ``seed_offset`` parameter): R re-runs with seed offsets 0…R−1, mean pairwise top-k feature
  agreement per instance; also weighted (each feature by its mean share of the two runs'
  |attributions|, so the order of features that carry no weight has no say), judged above what the
  runs' own values at random positions reach.
* **Input-perturbation stability**, label-preserving perturbations only (the predicted class must
  not change). Tabular: Gaussian noise of ``noise_frac`` × the feature's standard deviation over the
  evaluation set on every numeric feature, categoricals fixed. Text: one word outside the
  explanation's top-k words is replaced by the tokenizer's mask token *in the text*, and the
  perturbed text is explained as it is (a whole word becomes one ``[MASK]`` word, so the words of
  the two explanations still correspond one to one; ids are never decoded, so no word piece is
  re-segmented). Per instance: mean top-k agreement between e(x) and e(x′) and relative input
  stability (OpenXAI norm ratio, max over perturbations, log10).
* **Global rank stability**: the ranking of features by mean |attribution| over bootstrap
  resamples of the explained instances against the ranking over all of them (Spearman, also
  weighted by importance; no new model calls); for tables also the Pearson r of the features' mean
  shares of each instance's |attribution|, which a policy gates (equally important features swap
  places by chance; each instance counts once).

Top-k is taken by |attribution|, k = ``min(5, ceil(0.2 d))`` unless the policy sets it; text is
compared per word.
"""

from __future__ import annotations


from functools import partial

import numpy as np
from pydantic import Field

from auditor.checks.base import (
    MAX_INSTANCES, MAX_PERTURBATIONS, MAX_RESAMPLES, MAX_SEEDS, MAX_TOP_K, MIN_JUDGED, SIGNED_UNIT, UNIT, Range, CheckOutput,
    PerExplainerCheck, Params, count, with_n, fraction, possessive, sample_sizes_of,
)
from auditor.checks.explainers import (
    available_methods, ExplainerNames, feature_vectors, ranks_something, require_moving_output, require_two_features,
    unranked_note,
)
from auditor.explain import get_explainer
from auditor.metrics.agreement import feature_agreement, rank_correlation_to, weighted_rank_correlation
from auditor.metrics.chance import chance_quantile, weighted_topk_agreement_chance
from auditor.metrics.ranking import top_k_size
from auditor.metrics.stability import relative_input_stability, topk_agreement
from auditor.metrics.statistics import bootstrap_ci, row_shares, weighted_correlation
from auditor.results import BarChart, FileRef, SampleSize, Table, number_text, signed_text, size_of

# log10 RIS of an explanation that did not move at all (log10 0 = -inf is not a reportable number; -6
# is the metric's eps). A perturbation that did not move the input (noise 0) gets no RIS at all.
RIS_FLOOR = -6.0
# each measurement per explainer, with its range: top-k agreements (weighted or not) and the share of
# perturbations that keep the label are shares; log10 RIS is floored, unbounded above; the global ranking's
# stability is Spearman's ρ (weighted or not) and the shares' Pearson's r
SUFFIXES: dict[str, Range] = {
    "_seed_topk_agreement": UNIT, "_seed_topk_agreement_ci_low": UNIT, "_seed_weighted_topk_agreement": UNIT,
    "_perturbation_topk_agreement": UNIT, "_perturbation_topk_agreement_ci_low": UNIT,
    "_ris_log10_median": (RIS_FLOOR, None), "_ris_log10_ci_high": (RIS_FLOOR, None), "_label_preserved_share": UNIT,
    "_global_rank_stability": SIGNED_UNIT, "_global_rank_stability_p05": SIGNED_UNIT,
    "_global_weighted_rank_stability": SIGNED_UNIT, "_global_share_stability": SIGNED_UNIT,
}
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")  # 10⁻⁶, not 10^-6, in a report's text


def _explained_words(explained: dict[str, int]) -> str:
    """What the stability table's medians rest on, for its title ('medians over 10 instances'): it said
    'medians over instances' and not how many."""
    counts = sorted(set(explained.values()))
    if len(counts) == 1:
        return f"{counts[0]} instances"
    return "instances (" + ", ".join(f"{m} {k}" for m, k in explained.items()) + ")" if counts else "instances"


class StabilityParams(Params):
    explainers: ExplainerNames = Field(["shap", "lime"], min_length=1)  # filtered at run time to those the task has
    n_instances: int = count(20, MAX_INSTANCES, minimum=2)
    n_seeds: int = count(5, MAX_SEEDS, minimum=2)
    # Per instance; each one is a full explainer re-run. The reference's S1 uses 20 (10 for LIME and
    # KernelSHAP); 5 keeps a default audit affordable, and the policy can raise it to 50.
    n_perturbations: int = count(5, MAX_PERTURBATIONS)
    noise_frac: float = fraction(0.05, low_open=False, high_open=False)  # tabular noise sd, fraction of each feature's sd (0: a no-change control)
    output_tolerance: float = Field(0.1, gt=0, le=10, allow_inf_nan=False)  # regression: a perturbation is kept within this many sd of the predictions
    top_k: int | None = count(None, MAX_TOP_K)
    n_bootstrap: int = count(200, MAX_RESAMPLES, minimum=10)  # resamples for global rank stability


def seed_runs(ctx, method: str, n: int, n_seeds: int) -> tuple[list, np.ndarray] | None:
    """Per instance, its ``n_seeds`` re-runs as one (R, d) array, and which instances every run ranks
    anything on; None when the method is deterministic."""
    explainer = get_explainer(ctx.task, method)
    if not explainer.stochastic or "seed_offset" not in explainer.Params.model_fields:
        return None
    base = int(ctx.explainer_params.get(method, {}).get("seed_offset", 0))
    runs = [feature_vectors(ctx.attribution(method, n, {"seed_offset": base + r})) for r in range(n_seeds)]
    ranked = np.logical_and.reduce([ranks_something(run) for run in runs])  # all zero, or one word: nothing
    return [np.array([run[i] for run in runs]) for i in range(len(runs[0]))], ranked


def seed_agreement(runs: tuple[list, np.ndarray] | None, top_k: int | None,
                   weighted: bool = False) -> np.ndarray | None:
    """Per-instance mean pairwise FA@k (``weighted``: WFA@k) over the re-runs of :func:`seed_runs`;
    None when the method is deterministic (``runs`` None)."""
    if runs is None:
        return None
    per_instance, ranked = runs
    return np.array([topk_agreement(e, top_k_size(top_k, e.shape[1]), weighted=weighted) if ok else np.nan
                     for e, ok in zip(per_instance, ranked)])


def weighted_seed_chance(ctx, label: str, runs: tuple[list, np.ndarray] | None, top_k: int | None) -> float | None:
    """What the median weighted seed agreement reaches in 5% of draws when every re-run's values sit at
    random positions (:func:`~auditor.metrics.chance.weighted_topk_agreement_chance`)."""
    if runs is None:
        return None
    kept = [e for e, ok in zip(*runs) if ok]
    return weighted_topk_agreement_chance(kept, [top_k_size(top_k, e.shape[1]) for e in kept], rng=ctx.rng(label))


def perturbation_scores(method: str, vectors, ranked: np.ndarray, sets, n: int,
                        top_k: int | None) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Per-instance mean FA@k and max log10 RIS over that instance's kept perturbations (NaN: none),
    the number of perturbations whose explanation could not be compared (text segmentation), and
    per instance how many perturbations its FA@k averages.
    ``ranked``: which of ``vectors`` rank anything (:func:`ranks_something`); FA@k skips the rest."""
    fa = [[] for _ in range(n)]
    ris = [[] for _ in range(n)]
    skipped = 0
    for positions, derived, xs, xps in sets:
        if not len(positions):
            continue
        pert = feature_vectors(derived.attribution(method, len(positions)))
        pert_ranked = ranks_something(pert)
        for j, i in enumerate(positions):
            e, ep = vectors[i], pert[j]
            if len(e) != len(ep) or not len(e):
                skipped += 1  # a masked word changed the word segmentation: not comparable
                continue
            if ranked[i] and pert_ranked[j]:  # all zero, or one word: no top k to keep
                fa[i].append(feature_agreement(e, ep, top_k_size(top_k, len(e))))
            # the input moved at all, and one of the two explanations attributes something: two all-zero
            # explanations (a model whose output does not move) are "stable" by construction, and had
            # passed shap_ris_log10_median at the floor
            if np.linalg.norm(np.asarray(xs[j]) - np.asarray(xps[j])) > 0 and (np.any(e != 0) or np.any(ep != 0)):
                ris[i].append(max(relative_input_stability(xs[j], np.asarray(xps[j])[None], e, ep[None]), RIS_FLOOR))
    agg = lambda vals, f: np.array([f(v) if v else np.nan for v in vals])  # noqa: E731
    return agg(fa, np.mean), agg(ris, np.max), skipped, np.array([len(v) for v in fa])


def agreement_chance(ctx, label: str, vectors, values: np.ndarray | None, top_k: int | None,
                     reps: np.ndarray | None = None, n_rankings: int = 2) -> float | None:
    """What the median of a top-k agreement (``values``, per instance; NaN where undefined) reaches
    in 5% of draws when the explanations compared rank at random (:func:`~auditor.metrics.chance.
    chance_quantile`, each instance's own d and k): with few words or features a pass must be above
    it. Perturbations: ``reps``, per instance, how many perturbed explanations its value averages;
    seeds: ``n_rankings`` re-runs, each instance's mean over their pairs. None without ``values``."""
    if values is None:
        return None
    rows = np.flatnonzero(np.isfinite(values))
    sizes = [len(vectors[i]) for i in rows]
    return chance_quantile(sizes, [top_k_size(top_k, d) for d in sizes], rng=ctx.rng(label),
                           **({"reps": reps[rows]} if reps is not None else {"n_rankings": n_rankings, "pairs": "mean"}))


def _resampled_means(matrix: np.ndarray, n_boot: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Mean |attribution| over all instances (d,) and over each bootstrap resample (n_boot, d), each
    resample's mean as its rows' counts times the matrix: no (resamples, rows, features) array (200
    resamples of 100 texts over 3,000 words would be 480 MB, and the chance level draws 400 times)."""
    n = len(matrix)
    drawn = rng.integers(0, n, size=(n_boot, n))
    counts = np.bincount((drawn + n * np.arange(n_boot)[:, None]).ravel(), minlength=n_boot * n)
    return matrix.mean(axis=0), counts.reshape(n_boot, n).astype(float) @ matrix / n


def global_rank_stability(matrix: np.ndarray, n_boot: int, rng, weighted: bool = False) -> np.ndarray:
    """Spearman ρ between mean |attribution| over each bootstrap resample and over all instances;
    ``weighted``: each feature weighted by its mean share of the two means
    (:func:`~auditor.metrics.agreement.weighted_rank_correlation`), so the order of features that carry
    no weight, which is noise, has no say."""
    if matrix.shape[0] < 2 or matrix.shape[1] < 2:
        return np.full(0, np.nan)
    full, boot = _resampled_means(matrix, n_boot, rng)
    if weighted:
        return weighted_rank_correlation(np.broadcast_to(full, boot.shape), boot)
    return rank_correlation_to(full, boot)


def global_share_stability(matrix: np.ndarray, n_boot: int, rng) -> np.ndarray:
    """Pearson's r between the features' mean shares of each instance's |attribution| over each
    bootstrap resample and over all instances.

    A ranking's order says nothing of how far apart two features are: where several features drive a
    model about equally, their order in 10 explained rows is a coin toss, and a rank ρ weighted by
    importance, which all but ignores the features without weight, turns one swap of two equal drivers
    into most of its drop (sound linear models with 4 and 6 equal drivers of 13 failed its gate in 4
    and 12 of 20 simulated draws: benchmarks/global_share_stability.py). Shares move little in such a
    swap (0.33 and 0.31 become 0.31 and 0.33), while explanations dominated by noise still move them.
    Each instance's shares, not its raw |attribution|, so that every explained instance counts once:
    the r of mean |attribution| follows the few instances with the largest attributions (a logistic
    model's rows near the decision boundary), and its chance level with them (0.94-0.96 on two of
    three sound HMDA models, above their r). NaN where the full set's or a resample's mean shares are
    all equal."""
    if matrix.shape[0] < 2 or matrix.shape[1] < 2:
        return np.full(0, np.nan)
    full, boot = _resampled_means(row_shares(matrix)[0], n_boot, rng)
    return weighted_correlation(full, boot, np.full(matrix.shape[1], 1.0 / matrix.shape[1]))  # Pearson's r


def global_rank_stability_chance(matrix: np.ndarray, present: np.ndarray, n_boot: int, rng,
                                 draws: int = 400, q: float = 0.95, stability=global_rank_stability) -> float | None:
    """What the median of ``stability`` (:func:`global_rank_stability`, weighted or not, or
    :func:`global_share_stability`) reaches in 5% of draws when each instance's |attributions| are
    its own values at random positions among the features it has (``present``; a text's words):
    explanations with no ranking in common. A resample shares about two thirds of its instances with
    the full set, so even noise correlates with the full ranking (about 1/√2 for a mean of equally
    weighted instances, more when a few instances carry most of the mass, and a text's words mostly
    occur in one text): a pass must be above this level. None below 2 instances or 2 features."""
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] < 2 or m.shape[1] < 2:
        return None
    pres = np.asarray(present, dtype=bool)
    medians = np.empty(draws)
    for t in range(draws):
        shuffled = np.zeros_like(m)
        for i in range(len(m)):
            cols = np.flatnonzero(pres[i])
            shuffled[i, cols] = m[i, cols][rng.permutation(len(cols))]
        rhos = stability(shuffled, n_boot, rng)
        finite = rhos[np.isfinite(rhos)]
        medians[t] = np.median(finite) if finite.size else np.nan
    medians = medians[np.isfinite(medians)]
    return float(np.quantile(medians, q, method="inverted_cdf")) if medians.size else None


def _ci(values, rng) -> tuple[float | None, float | None, float | None]:
    est, low, high = bootstrap_ci(np.asarray(values, dtype=float), rng=rng)
    return tuple(None if np.isnan(v) else v for v in (est, low, high))


def _levels(plain: list[str], weighted: list[str]) -> str:
    """Chance levels per explainer ("shap 0.33, lime 0.35"), the weighted ones in brackets."""
    return ", ".join(plain) + (f" (weighted {', '.join(weighted)})" if weighted else "")


WEIGHTED_WORDS = (" Weighted: each feature counts by its mean share of the two |attributions|, so the order of "
                  "features without weight, which is noise, has no say.")


def _seed_chance_words(n_seeds: int, seed: list[str], weighted_seed: list[str]) -> str:
    """The re-run table's chance levels in one sentence (each list: "shap 0.33" per explainer)."""
    if not (seed or weighted_seed):
        return ""
    return ((WEIGHTED_WORDS if weighted_seed else "")
            + f" By chance ({n_seeds} re-runs ranking at random) the medians reach, in 5% of draws: seed top-k "
            f"agreement {_levels(seed, weighted_seed)}. A gate passes only above its level.")


def _global_chance_words(global_: list[str], weighted_global: list[str], shares: list[str]) -> str:
    """The global table's chance levels in one sentence (the weighting is said under the re-run table)."""
    parts = ([f"global rank ρ {_levels(global_, weighted_global)}"] if global_ or weighted_global else []) + (
        [f"shares r {', '.join(shares)}"] if shares else [])
    if not parts:
        return ""
    return (" By chance (each instance's values at random positions; a resample shares most of its instances with "
            f"the full set) the medians reach, in 5% of draws: {'; '.join(parts)}. A gate passes only above its level.")


class ExplanationStability(PerExplainerCheck):
    name = "explanation_stability"
    title = "Stability of explanations"
    description = (
        "Whether an explanation survives what should not change it: a re-run with another random seed "
        "(for sampling explainers such as LIME), a tiny perturbation of the input that leaves the "
        "prediction unchanged (numeric features nudged by a few percent of their spread; for text, "
        "one unimportant word masked), and resampling of the explained instances (global ranking). "
        "It reports the share of top features that stay the same, relative input stability (how "
        "much more the explanation moves than the input, on a log scale) and the rank correlation of global "
        "importance. An explanation that changes when nothing relevant changed cannot support a "
        "decision."
    )
    trust = True
    Params = StabilityParams
    explainer_params = ("explainers",)
    suffixes = SUFFIXES

    def run(self, ctx) -> CheckOutput:
        p = self.params
        require_two_features(ctx, "explanation stability")
        require_moving_output(ctx, "a re-run, a new seed or a nudged input gives zeros again, and stability has no "
                                   "ranking to keep")
        methods, notes = available_methods(ctx.task, p.explainers)
        measurements: dict[str, float | None] = {n: None for n in self.measurement_names(p)}
        rows, global_rows, charts, per_instance, sizes, seed_chances, global_chances = [], [], [], [], [], [], []
        explained: dict[str, int] = {}  # instances per explainer: the table's medians rest on them
        column_ns, below_chance = [], []  # the n behind each column; ungated figures no better than chance
        weighted_seed_chances, weighted_global_chances, share_chances = [], [], []
        kept_what = (f"whose prediction stays within {p.output_tolerance:g} standard deviations of the predictions"
                     if ctx.regression else "that keep the predicted class")
        for m in methods:
            attr = ctx.attribution(m, p.n_instances)
            vectors = feature_vectors(attr)
            ranked = ranks_something(vectors)
            notes += unranked_note(m, ranked, "the top-k agreements")
            runs = seed_runs(ctx, m, p.n_instances, p.n_seeds)
            seed, weighted_seed = seed_agreement(runs, p.top_k), seed_agreement(runs, p.top_k, weighted=True)
            if seed is None:
                notes.append(f"{m}: deterministic here, so seed stability does not apply.")
            sets, drawn = ctx.model.perturbations(ctx, attr, vectors, p)
            kept = sum(len(s[0]) for s in sets)
            fa, ris, skipped, fa_counts = perturbation_scores(m, vectors, ranked, sets, len(attr), p.top_k)
            chance = agreement_chance(ctx, f"stability.chance.{m}", vectors, fa, p.top_k, reps=fa_counts)
            importance = attr.importance_matrix()
            # a text's words: only those it has can be ranked (a column of another text's word is 0 here)
            present = np.ones(importance.shape, dtype=bool) if attr.words is None else importance != 0
            global_chance = global_rank_stability_chance(importance, present, p.n_bootstrap,
                                                         ctx.rng(f"stability.global_chance.{m}"))
            chance_of = {"_seed_topk": agreement_chance(ctx, f"stability.seed_chance.{m}", vectors, seed, p.top_k,
                                                        n_rankings=p.n_seeds),
                         "_seed_weighted_topk": weighted_seed_chance(ctx, f"stability.seed_weighted_chance.{m}", runs,
                                                                     p.top_k),
                         "_perturbation_topk": chance, "_global_rank_stability": global_chance}
            # weighted (tabular: a text's thousands of words would double the chance level's cost)
            weighted_global = attr.words is None
            if weighted_global:
                chance_of["_global_weighted_rank_stability"] = global_rank_stability_chance(
                    importance, present, p.n_bootstrap, ctx.rng(f"stability.global_weighted_chance.{m}"),
                    stability=partial(global_rank_stability, weighted=True))
                chance_of["_global_share_stability"] = global_rank_stability_chance(
                    importance, present, p.n_bootstrap, ctx.rng(f"stability.global_share_chance.{m}"),
                    stability=global_share_stability)
                if chance_of["_global_weighted_rank_stability"] is not None:
                    weighted_global_chances.append(f"{m} {number_text(chance_of['_global_weighted_rank_stability'])}")
                if chance_of["_global_share_stability"] is not None:
                    share_chances.append(f"{m} {number_text(chance_of['_global_share_stability'])}")
            if global_chance is not None:
                global_chances.append(f"{m} {number_text(global_chance)}")
            if chance_of["_seed_topk"] is not None:
                seed_chances.append(f"{m} {number_text(chance_of['_seed_topk'])}")
            if chance_of["_seed_weighted_topk"] is not None:
                weighted_seed_chances.append(f"{m} {number_text(chance_of['_seed_weighted_topk'])}")
            if skipped:
                notes.append(f"{m}: {skipped} perturbed inputs changed the word segmentation and were not compared.")
            rhos = global_rank_stability(importance, p.n_bootstrap, ctx.rng(f"stability.global.{m}"))
            s_est, s_low, _ = _ci(seed if seed is not None else [], ctx.rng(f"stability.seed.ci.{m}"))
            ws = weighted_seed[np.isfinite(weighted_seed)] if weighted_seed is not None else np.empty(0)
            ws_med = float(np.median(ws)) if ws.size else None
            f_est, f_low, _ = _ci(fa, ctx.rng(f"stability.fa.ci.{m}"))
            r_est, _, r_high = _ci(ris, ctx.rng(f"stability.ris.ci.{m}"))
            w_rhos = (global_rank_stability(importance, p.n_bootstrap, ctx.rng(f"stability.global_weighted.{m}"),
                                            weighted=True) if weighted_global else np.full(0, np.nan))
            w_finite = w_rhos[np.isfinite(w_rhos)]
            shares = (global_share_stability(importance, p.n_bootstrap, ctx.rng(f"stability.global_share.{m}"))
                      if weighted_global else np.full(0, np.nan))
            s_finite = shares[np.isfinite(shares)]
            finite = rhos[np.isfinite(rhos)]
            g_med, g_p05 = (float(np.median(finite)), float(np.quantile(finite, 0.05))) if finite.size else (None, None)
            measurements.update({
                f"{m}_seed_topk_agreement": s_est, f"{m}_seed_topk_agreement_ci_low": s_low,
                f"{m}_seed_weighted_topk_agreement": ws_med,
                f"{m}_perturbation_topk_agreement": f_est, f"{m}_perturbation_topk_agreement_ci_low": f_low,
                f"{m}_ris_log10_median": r_est, f"{m}_ris_log10_ci_high": r_high,
                f"{m}_label_preserved_share": kept / drawn if drawn else None,
                f"{m}_global_rank_stability": g_med, f"{m}_global_rank_stability_p05": g_p05,
                f"{m}_global_weighted_rank_stability": float(np.median(w_finite)) if w_finite.size else None,
                f"{m}_global_share_stability": float(np.median(s_finite)) if s_finite.size else None,
            })
            rows.append([m, s_est, s_low, ws_med, f_est, f_low, r_est, r_high, kept, drawn])
            # a text's words are ranked plainly only (weighting thousands of words would double the chance's cost)
            global_rows.append([m, g_med, g_p05] + ([measurements[f"{m}_global_weighted_rank_stability"],
                                                     measurements[f"{m}_global_share_stability"]] if weighted_global else []))
            explained[m] = len(attr)
            # each figure rests on the instances where it is defined (an instance with no kept
            # perturbation has no perturbation agreement), the share on the perturbations drawn
            finite_n = {"seed": 0 if seed is None else int(np.isfinite(seed).sum()), "perturbation": int(np.isfinite(fa).sum()),
                        "ris": int(np.isfinite(ris).sum()), "label": int(drawn), "global": len(attr)}
            # a column resting on fewer instances than were explained says so (a perturbation column on those
            # with a kept perturbation; the title's count is the explained instances)
            fewer = [f"{what} {finite_n[key]}" for key, what in (("seed", "seed columns"), ("perturbation",
                     "perturbation columns (those with a kept perturbation)"), ("ris", "input stability"))
                     if finite_n[key] != len(attr) and not (key == "seed" and seed is None)]
            if fewer:
                column_ns.append(f"{m}: " + ", ".join(fewer))
            if g_med is not None and global_chance is not None and g_med <= global_chance:
                share = measurements[f"{m}_global_share_stability"]
                below_chance.append(f"{possessive(m)} global rank ρ {number_text(g_med)} is at or below its chance "
                                    f"level {number_text(global_chance)}, so it is no evidence that the global ranking's "
                                    "order is stable" + ("" if share is None else
                                                         f" (the r of the features' shares, which a policy gates: "
                                                         f"{number_text(share)}; its chance level is in the table's "
                                                         "caption)"))
            sizes += [SampleSize(measurement=f"{m}{suffix}", n=finite_n[suffix[1:].split("_")[0]],
                                 min_n=None if suffix.startswith("_label") else MIN_JUDGED,
                                 chance_p95=next((c for s, c in chance_of.items() if suffix.startswith(s)), None))
                      for suffix in SUFFIXES]
            ok = fa[np.isfinite(fa)]
            if ok.size:
                counts, _ = np.histogram(ok, bins=np.linspace(0, 1, 6))
                charts.append(BarChart(title=f"{m}: top-k agreement after a "
                                             f"{'prediction' if ctx.regression else 'label'}-preserving perturbation",
                                       labels=["0–0.2", "0.2–0.4", "0.4–0.6", "0.6–0.8", "0.8–1"],
                                       values=counts.astype(float).tolist(), xlabel="instances", detail=True,
                                       caption=f"n = {ok.size} instances; per instance, mean over its "
                                               f"perturbations; 1 = the same top-k {ctx.features}."
                                               + ("" if chance is None else f" By chance (perturbed explanations "
                                                  f"ranking at random) the median reaches {number_text(chance)} or more in "
                                                  "5% of draws.")))
            seed_rows = seed if seed is not None else np.full(len(attr), np.nan)
            per_instance += [(int(r), m, a, b, c) for r, a, b, c in zip(attr.row_ids, seed_rows, fa, ris)]
        notes.append(ctx.model.perturbation_note(p))
        notes.append("An explanation that did not move at all is recorded as a relative input stability of "
                     f"{signed_text(f'{RIS_FLOOR:g}')} on the log scale (10{f'{RIS_FLOOR:g}'.translate(SUPERSCRIPT)} times the input change).")
        evidence = [
            Table(title=f"Stability per explainer under re-runs and perturbations (medians over "
                        f"{_explained_words(explained)} explained, each column over those it is defined on; bootstrap "
                        "95% CI bounds)",
                  columns=["explainer", "seed top-k agr.", "CI low", "seed top-k agr., weighted",
                           "perturbation top-k agr.", "CI low", "input stability (log)", "CI high", "perturbations kept",
                           "drawn"],
                  rows=rows, caption=f"Only perturbations {kept_what} are kept. Relative input "
                                     "stability: log10 of the relative change of the explanation over the relative "
                                     "change of the input (lower is better; 0 = moves as much as the input)."
                                     + _seed_chance_words(p.n_seeds, seed_chances, weighted_seed_chances)
                                     + (f" Columns resting on fewer of the explained instances: {'; '.join(column_ns)}."
                                        if column_ns else "")),
            Table(title=f"Global importance under resampling of the explained instances (medians over {p.n_bootstrap} "
                        f"bootstrap resamples of the {_explained_words(explained)} explained)",
                  columns=["explainer", "global rank ρ", "ρ 5th pct", "rank ρ, weighted", "shares r"][:len(global_rows[0])]
                  if global_rows else ["explainer", "global rank ρ", "ρ 5th pct"],
                  rows=global_rows, detail=True,  # the gated shares r is in the gate table with its chance level
                  caption=f"Mean |attribution| per {ctx.features[:-1]} over each resample against all instances: "
                          "Spearman's ρ of the rankings (ρ 5th pct: its 5th percentile, a spread, not a chance level)"
                          + ("; shares r: Pearson's r of the features' mean shares of each instance's |attribution|, "
                             "which the coin-toss order of equally important features does not move."
                             if share_chances else ".")
                          + _global_chance_words(global_chances, weighted_global_chances, share_chances)
                          + "".join(f" Not above chance: {b}." for b in below_chance)),
            *charts,
            FileRef(title="Per-instance stability values",
                    path=ctx.add_csv("evidence/explanation_stability.csv",
                                     ["row", "explainer", "seed_topk_agreement", "perturbation_topk_agreement", "ris_log10"],
                                     [[r, m, repr(float(a)), repr(float(b)), repr(float(c))]
                                      for r, m, a, b, c in per_instance])),
        ]
        first = methods[0] if methods else None
        fa0 = measurements.get(f"{first}_perturbation_topk_agreement") if first else None
        summary = (f"After a small change that leaves the prediction {'within tolerance' if ctx.regression else 'unchanged'}, {possessive(first)} explanations keep a median "
                   f"{fa0:.0%} of their top {ctx.features}." if fa0 is not None else
                   "No input-perturbation stability could be measured for the requested explainers.")
        if below_chance:  # said where the signer reads the verdict, not only under the table
            summary += "".join(f" Not above chance: {b}." for b in below_chance)
        return CheckOutput(
            measurements=measurements, evidence=evidence, notes=notes, summary=summary,
            sample_sizes=(sizes := sizes or sample_sizes_of(measurements, len(ctx.explained_rows(p.n_instances)))),
            key_figure="" if fa0 is None else with_n(f"{first} top-k kept {number_text(fa0)}",
                                                      size_of(sizes, f"{first}_perturbation_topk_agreement")),
        )
