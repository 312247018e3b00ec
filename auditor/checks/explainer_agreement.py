"""explainer_agreement: do different explainers point at the same features? (reference §4, §10 I1)

For every pair of explainers the check compares the two explanations of each explained instance
with the disagreement-problem metrics of Krishna et al. (2022): feature, rank, sign and
signed-rank agreement at k and the Spearman rank correlation of |attributions|, then reports the
median over instances. Text explanations are compared per word (a word's value is the sum of its
pieces, special tokens dropped), so LIME's word weights and IG's token values line up."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from pydantic import Field

from auditor.checks.base import (
    MAX_INSTANCES, MAX_TOP_K, MIN_JUDGED, SIGNED_UNIT, UNIT, Range, Check, CheckOutput, Params, count, with_n, fraction,
)
from auditor.models.base import Capability
from auditor.checks.explainers import (
    available_methods, ExplainerNames, feature_vectors, ranks_something, require_moving_output, require_two_features,
    unranked_note,
)
from auditor.metrics.ranking import top_k_size
from auditor.metrics.agreement import (
    feature_agreement, mean_shares, rank_agreement, rank_correlation, sign_agreement, signed_rank_agreement,
    weighted_rank_correlation,
)
from auditor.metrics.chance import chance_quantile, rank_correlation_chance, weighted_rank_correlation_chance
from auditor.metrics.statistics import finite_median
from auditor.results import NBSP, Heatmap, Note, SampleSize, Table, number_text, size_of

# Signed attribution methods worth comparing (saliency is unsigned; attention is not an attribution
# of the output and has its own check).
AGREEMENT_METHODS = ["shap", "lime", "integrated_gradients", "gradient_x_input"]
METRICS = {
    "feature_agreement": feature_agreement,
    "rank_agreement": rank_agreement,
    "sign_agreement": sign_agreement,
    "signed_rank_agreement": signed_rank_agreement,
}
CORRELATIONS = {"rank_correlation": rank_correlation, "weighted_rank_correlation": weighted_rank_correlation}
ALL_METRICS = [*METRICS, *CORRELATIONS]
GATED = ("feature_agreement", *CORRELATIONS)  # the least similar pair's median is a measurement (min_…)
# each metric's range (a pair's median, or the least similar pair's): agreements are shares of the top k,
# correlations Spearman's ρ of |attributions|, weighted or not
RANGES: dict[str, Range] = {**dict.fromkeys(METRICS, UNIT), **dict.fromkeys(CORRELATIONS, SIGNED_UNIT)}


def pair_agreement(values_a: list[np.ndarray], values_b: list[np.ndarray],
                   k: int | None = None) -> dict[str, np.ndarray]:
    """Per-instance agreement of two explanations of the same instances.

    Parameters
    ----------
    values_a, values_b : list of 1-D arrays
        Comparable vectors (:func:`feature_vectors`) of the same instances, pairwise equal length.
    k : int, optional
        Top-k size; default :func:`default_k` of each instance's length (capped at that length).

    Returns
    -------
    dict
        Metric name -> (n,) array: FA, RA, SA, SRA at k, the Spearman rank correlation of |a|, |b|
        and the same weighted by each feature's share of the two (:func:`weighted_rank_correlation`);
        NaN where either explanation ranks nothing (no feature, one, or every |value| equal, as the
        all-zero explanation of a model that ignores its inputs).
    """
    if len(values_a) != len(values_b):
        raise ValueError(f"{len(values_a)} and {len(values_b)} instances cannot be compared")
    out = {m: np.full(len(values_a), np.nan) for m in ALL_METRICS}
    for i, (a, b) in enumerate(zip(values_a, values_b)):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        if a.shape != b.shape:
            raise ValueError(f"instance {i}: explanations of lengths {a.size} and {b.size} differ")
        if not (ranks_something([a])[0] and ranks_something([b])[0]):
            continue  # nothing to rank in one of them (one word, all zero): top-k lists would agree by the tie rule
        k_i = top_k_size(k, a.size)
        for name, fn in METRICS.items():
            out[name][i] = fn(a, b, k_i)
        if a.size >= 2:
            for name, fn in CORRELATIONS.items():
                out[name][i] = fn(a, b)
    return out


def chance_caption(chance: dict) -> str:
    named = {"min_feature_agreement": "a feature agreement", "min_rank_correlation": "a rank correlation",
             "min_weighted_rank_correlation": "a weighted rank correlation"}
    parts = [f"{what} of {number_text(chance[m])}" for m, what in named.items() if chance.get(m) is not None]
    if not parts:
        return ""
    return (" By chance: explainers that agree on nothing reach " + ", ".join(parts[:-1])
            + (" and " if len(parts) > 1 else "") + parts[-1]
            + " or more (one pair's median, these instances) in 5% of draws: a gate passes only above it; an ungated "
              "figure at or below it is no better than chance.")


def flag_cell(value: float | None, minimum: float, level: float | None, n: int) -> str:
    """The pair table's flag for its median feature agreement, never blank: a blank cell read the same
    whether the pair was fine, at chance or not judged. "below minimum" (under ``min_feature_agreement``;
    with ", not judged (n < 5)" where fewer instances were compared than a gate judges from),
    "not judged (n < 5)" (fewer instances compared than a gate judges; no value at all is n = 0), "at
    chance (≤ level)" (no higher than explainers that agree on nothing reach in 5% of draws), else "none"."""
    unjudged = f"not judged (n{NBSP}<{NBSP}{MIN_JUDGED})"
    if value is not None and value < minimum:  # said either way, and that no gate judges it below MIN_JUDGED
        return "below minimum" if n >= MIN_JUDGED else f"below minimum, {unjudged}"
    if value is None or n < MIN_JUDGED:
        return unjudged
    if level is not None and value <= level:
        return f"at chance (≤{NBSP}{number_text(level)})"
    return "none"


def agreement_summary(least: list[str], pairs: int, low: float, best: float, top: str) -> str:
    """The check's summary: the least similar pair's median feature agreement and, with more pairs,
    the range up to the most similar one's ('a median 40%', not '40% to 40%', when every pair agrees
    as much)."""
    a, b = least
    if pairs == 1:
        return f"{a} and {b} share a median {low:.0%} of their {top}."
    if f"{low:.0%}" == f"{best:.0%}":
        return f"Each pair of explainers shares a median {low:.0%} of their {top} ({a} and {b} the least similar)."
    return (f"Pairs of explainers share a median {low:.0%} to {best:.0%} of their {top}; "
            f"the least similar pair is {a} and {b}.")


def pair_n_words(compared: dict[str, int], explained: int) -> str:
    """How many instances the pair table's medians rest on: "n = 10 instances", or the range when a
    pair or measure compared fewer (a measure undefined on an instance leaves it out of that median)."""
    counts = sorted(set(compared.values())) or [explained]
    if len(counts) == 1:
        return f"n = {counts[0]} instances"
    return f"n = {counts[0]} to {counts[-1]} instances, by pair and measure"


class AgreementParams(Params):
    explainers: ExplainerNames = Field(list(AGREEMENT_METHODS), min_length=1)  # filtered at run time to those the task has
    n_instances: int = count(50, MAX_INSTANCES)
    top_k: int | None = count(None, MAX_TOP_K)  # None: min(5, ceil(0.2 d)) per instance
    min_feature_agreement: float = fraction(0.4, low_open=False, high_open=False)  # pairs below this median FA@k are flagged in the evidence


class ExplainerAgreement(Check):
    name = "explainer_agreement"
    title = "Agreement between explainers"
    description = (
        "For every pair of explainers, how far their explanations of the same instances agree: the "
        "share of top-k features they have in common (feature agreement), at the same rank (rank "
        "agreement), with the same sign (sign agreement), at the same rank and sign (signed rank "
        "agreement), and the Spearman rank correlation of |attributions| (also weighted by each "
        "feature's share), each the median over instances (Krishna et al. 2022). Text is compared "
        "per word. Explainers that disagree cannot all be right: a reviewer should not rely on any "
        "single one of them without evidence of its faithfulness."
    )
    trust = True
    Params = AgreementParams
    explainer_params = ("explainers",)

    @classmethod
    def measurement_ranges(cls, params) -> dict[str, Range]:
        pairs = combinations(params.explainers, 2)
        return {**{f"{a}__{b}_{m}": RANGES[m] for a, b in pairs for m in ALL_METRICS},
                **{f"min_{m}": RANGES[m] for m in GATED}}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        pairs = combinations(params.explainers, 2)
        return [f"{a}__{b}_{m}" for a, b in pairs for m in ALL_METRICS] + [f"min_{m}" for m in GATED]

    def chance_levels(self, ctx, methods: list[str], vectors: dict, finite: dict) -> dict[str, float | None]:
        """Per feature-agreement and rank-correlation measurement, what explainers that agree on
        nothing reach in 5% of draws on the same instances (:mod:`auditor.metrics.chance`): each
        pair's median, and for ``min_…`` one pair's, on the instances every pair compared (the
        weighted rank correlation's level depends on the pair's values: the highest pair's).
        ``finite``: (explainer a, explainer b, metric) -> which instances it rests on.

        ``min_…`` claims that every pair agrees beyond chance, so its level is one pair's (an
        intersection-union test), not the least of several unrelated pairs': with one explainer
        pure noise and two that agree, the least similar pair is a single unrelated pair, which
        passed the lower level 28% of the time (top 2 of 8 features, 20 instances) and 18% (top 5
        of 51 words, 12 texts), against at most 5% now."""
        k = self.params.top_k

        def level(metric: str, a: str, b: str, ok: np.ndarray, key: str) -> float | None:
            rng = ctx.rng(f"explainer_agreement.chance.{key}")
            if metric == "weighted_rank_correlation":  # depends on where the pair's own values put the weight
                return weighted_rank_correlation_chance([v for v, f in zip(vectors[a], ok) if f],
                                                        [v for v, f in zip(vectors[b], ok) if f], rng=rng)
            sizes = [len(v) for v, f in zip(vectors[a], ok) if f]
            if metric == "rank_correlation":
                return rank_correlation_chance(sizes, n_rankings=2, rng=rng)
            return chance_quantile(sizes, [top_k_size(k, d) for d in sizes], n_rankings=2, rng=rng)

        out: dict[str, float | None] = {}
        for (a, b, metric), ok in finite.items():
            out[f"{a}__{b}_{metric}"] = level(metric, a, b, ok, f"{a}__{b}_{metric}")
        for metric in GATED:
            pairs = {(a, b): ok for (a, b, m), ok in finite.items() if m == metric}
            if not pairs:
                continue
            every = np.logical_and.reduce(list(pairs.values()))
            if metric != "weighted_rank_correlation":
                out[f"min_{metric}"] = level(metric, *methods[:2], every, f"min_{metric}")
                continue
            # each pair's level is its own values'; the least similar pair is beyond chance where it is
            # above every pair's level
            levels = [out[f"{a}__{b}_{metric}"] if np.array_equal(ok, every) else
                      level(metric, a, b, every, f"min_{metric}.{a}__{b}") for (a, b), ok in pairs.items()]
            out[f"min_{metric}"] = max((v for v in levels if v is not None), default=None)
        return out

    @staticmethod
    def where_they_differ(ctx, a: str, b: str, vectors: dict, flagged: list[str], shown: int = 5) -> Table:
        """The features whose mean share of |attribution| differs most between ``a`` and ``b``: where a
        reviewer reads why two explainers disagree. In the check's section where the pair is flagged,
        else in the appendix."""
        names = ctx.data.feature_names
        share_a, share_b, n = mean_shares(np.vstack(vectors[a]), np.vstack(vectors[b]))
        order = np.argsort(-np.abs(np.nan_to_num(share_a - share_b)), kind="stable")[:shown]
        return Table(
            title=f"Where {a} and {b} differ most: each feature's mean share of |attribution|",
            columns=["feature", f"{a} share", f"{b} share", f"{a} − {b}"],
            rows=[[names[j], float(share_a[j]), float(share_b[j]), float(share_a[j] - share_b[j])] for j in order],
            caption=f"n = {n} instances both explain; each instance's summed |attribution| counts as 1, so a "
                    f"share is how much of an explanation the feature takes. The {len(order)} features whose "
                    "shares differ most; a large difference is a feature one explainer weighs and the other "
                    "barely does. A rare category is a common case: LIME weighs the effect of switching to it, "
                    "SHAP that effect times how rarely the background has it.",
            detail=f"{a} / {b}" not in flagged)

    def run(self, ctx) -> CheckOutput:
        p = self.params
        require_two_features(ctx, "explainer agreement")
        require_moving_output(ctx, "every explainer gives the same zeros, and their agreement has no rankings to "
                                   "compare")
        methods, notes = available_methods(ctx.task, p.explainers)
        attrs = {m: ctx.attribution(m, p.n_instances) for m in methods}
        vectors = {m: feature_vectors(a) for m, a in attrs.items()}
        for m in methods:
            notes += unranked_note(m, ranks_something(vectors[m]), "the agreement measures")
        measurements: dict[str, float | None] = {n: None for n in self.measurement_names(p)}
        fa = np.eye(len(methods))
        rows, flagged, compared, finite = [], [], {}, {}
        for (i, a), (j, b) in combinations(enumerate(methods), 2):
            per = pair_agreement(vectors[a], vectors[b], p.top_k)
            finite.update({(a, b, m): np.isfinite(per[m]) for m in GATED})
            med = {m: finite_median(v) for m, v in per.items()}
            measurements.update({f"{a}__{b}_{m}": v for m, v in med.items()})
            compared.update({f"{a}__{b}_{m}": int(np.isfinite(v).sum()) for m, v in per.items()})
            fa[i, j] = fa[j, i] = np.nan if med["feature_agreement"] is None else med["feature_agreement"]
            flag = med["feature_agreement"] is not None and med["feature_agreement"] < p.min_feature_agreement
            if flag:
                flagged.append(f"{a} / {b}")
            rows.append([a, b, *[med[m] for m in ALL_METRICS]])  # its flag once the chance levels are known
        for metric in GATED:
            pair_values = [v for (a, b, m) in finite if m == metric
                           for v in [measurements[f"{a}__{b}_{m}"]] if v is not None]
            measurements[f"min_{metric}"] = min(pair_values) if pair_values else None
        chance = self.chance_levels(ctx, methods, vectors, finite)
        for row in rows:
            pair = f"{row[0]}__{row[1]}_feature_agreement"
            row.append(flag_cell(row[2], p.min_feature_agreement, chance.get(pair), compared[pair]))
        if ctx.model.has(Capability.TOKENS):
            notes.append("Text is compared per word (sum of its pieces), special tokens dropped, so explainers "
                         "with different token conventions (LIME spreads a word's weight over its pieces) line up.")
        if len(methods) < 2:
            notes.append(f"fewer than two of {p.explainers} are available for {ctx.task} models: nothing to compare.")
        k_text = f"k = {p.top_k}" if p.top_k else "k = min(5, ceil(0.2 d)) per instance"
        explained = min((len(a) for a in attrs.values()), default=0)
        fa_n = [n for name, n in compared.items() if name.endswith("_feature_agreement")]
        fewer = ""
        if fa_n and min(fa_n) < explained:
            counts = f"{min(fa_n)}" if min(fa_n) == max(fa_n) else f"{min(fa_n)} to {max(fa_n)}"
            fewer = f" ({counts} compared per pair; see the notes)"
        evidence = [
            Heatmap(title="Median top-k feature agreement between explainers", row_labels=methods,
                    col_labels=methods, values=[[None if np.isnan(v) else float(v) for v in r] for r in fa],
                    vmin=0.0, vmax=1.0, caption=f"n = {explained} instances per explainer{fewer}; {k_text}; "
                                                 f"1 = the same top-k {ctx.features}."),
            # the flag cells say what they mean (flag_cell); a caption sentence saying it too took the demo's
            # core onto a 24th page
            Table(title=f"Agreement per pair of explainers (medians over {pair_n_words(compared, explained)})",
                  columns=["explainer A", "explainer B", "feature agr.", "rank agr.", "sign agr.",
                           "signed rank agr.", "rank correlation", "weighted rank corr.", "flag"],
                  rows=rows, caption=f"{k_text}; top-k by |attribution|; sign(0) = 0 agrees only with 0; "
                                     f"weighted: {ctx.features} weighted by their share of the two."
                                     + chance_caption(chance)),
        ]
        if ctx.model.has(Capability.FEATURE_TABLE) and rows:  # the least similar pair, by weighted rank correlation
            least = min(combinations(methods, 2), key=lambda pair: np.inf if (
                v := measurements[f"{pair[0]}__{pair[1]}_weighted_rank_correlation"]) is None else v)
            evidence.append(self.where_they_differ(ctx, *least, vectors, flagged))
        if flagged:
            def few(pair: str) -> str:  # a pair compared on fewer instances than a gate judges from says so
                n = compared[pair.replace(" / ", "__") + "_feature_agreement"]
                return "" if n >= MIN_JUDGED else f" (not judged: {n} instance{'s' * (n != 1)} compared, fewer than {MIN_JUDGED})"

            evidence.append(Note(title="Pairs below the minimum feature agreement",
                                 text=f"{', '.join(pair + few(pair) for pair in flagged)}: median feature agreement "
                                      f"below {p.min_feature_agreement:g}."))
        low = measurements["min_feature_agreement"]
        if low is None:
            summary = "No two of the requested explainers could be compared on this model."
        else:
            worst = min((r for r in rows if r[2] is not None), key=lambda r: r[2])
            best = max(r[2] for r in rows if r[2] is not None)
            # the k the shares are of: local_explanations' summary gives its own (top 4 of concrete's 8
            # features, here top 2), and a share without its k reads as a contradiction beside it
            ks = sorted({top_k_size(p.top_k, len(v)) for v in vectors[methods[0]]}) if methods else []
            top = (f"top {ks[0]} {ctx.features}" if len(ks) == 1 else
                   f"top {ks[0]} to {ks[-1]} {ctx.features} (k by length)" if ks else f"top {ctx.features}")
            summary = agreement_summary(worst[:2], len(rows), low, best, top)
            # what a share of top features is worth beside chance, and the weighted figure of the pair
            # it comes from: the text report called it 'the gated figure' where the policy gated the
            # feature agreement, and named the IG/SHAP pair beside the SHAP/LIME minimum
            weighted, by_chance = measurements["min_weighted_rank_correlation"], chance.get("min_feature_agreement")
            if by_chance:  # a chance level of 0 ("share 0% or more in 5% of draws") says nothing
                at_chance = ": no better than chance" if low <= by_chance else ""
                summary = summary[:-1] + f" (unrelated rankings share {by_chance:.0%} or more in 5% of draws{at_chance})."
            if weighted is not None:
                a, b = min((r for r in rows if r[7] is not None), key=lambda r: r[7])[:2]
                summary += (f" Weighted by each {ctx.features[:-1]}'s share of |attribution|, the rank correlation "
                            f"is lowest for {a} and {b}: {number_text(weighted)}.")
            named = {"min_feature_agreement": "the least similar pair's feature agreement",
                     "min_rank_correlation": "the lowest rank correlation",
                     "min_weighted_rank_correlation": "the lowest weighted rank correlation"}
            gates = [what for m, what in named.items() if m in self.gated]
            if gates:
                summary += f" The policy gates {' and '.join(gates)}."
        # the gated figures first, and a figure no better than chance says so: '0.50' led the concrete
        # report's PASS row at exactly its chance level (top 2 of 8 features)
        figures = []
        for m, label in (("min_feature_agreement", "min feature agreement"),
                         ("min_weighted_rank_correlation", "weighted rank ρ")):
            value, level = measurements[m], chance.get(m)
            if value is not None:
                figures.append((m not in self.gated, f"{label} {number_text(value)}" + (
                    f" (at chance: ≤ {number_text(level)})" if level is not None and value <= level else ""), m))
        sizes = ([SampleSize(measurement=name, n=n, min_n=MIN_JUDGED, chance_p95=chance.get(name))
                  for name, n in compared.items()]
                 + [SampleSize(measurement=f"min_{m}", n=min((compared[f"{a}__{b}_{m}"] for a, b, pm in finite if pm == m),
                                                             default=0), min_n=MIN_JUDGED, chance_p95=chance.get(f"min_{m}"))
                    for m in GATED])
        key_figure = with_n(", ".join(text for _, text, _ in sorted(figures, key=lambda f: f[0])),
                             min(size_of(sizes, m) for _, _, m in figures)) if low is not None and figures else ""
        return CheckOutput(
            measurements=measurements, evidence=evidence, notes=notes, summary=summary, sample_sizes=sizes,
            key_figure=key_figure,
            cost={"attribution_model_inputs": {m: a.cost.get("requests", 0) for m, a in attrs.items()}},
        )
