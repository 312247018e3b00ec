"""adversarial_robustness: how few substitutions flip a decision (or move a regressor's prediction),
and does the explanation know where to make them?

For each correctly predicted explained instance (a regressor: every explained instance), a greedy
substitution attack visits the units an
attribution ranks (tabular features, text words) in the explanation's order — most important first —
and, as the control, in a seeded random order of the same units (auditor/metrics/adversarial.py).
Replacement values come from the model's adapter (auditor/models/substitution.py): observed values
of the evaluation data within its range (tabular; the card's ``immutable_features`` never change), or
the word's nearest whole words in the model's input-embedding matrix with a cosine similarity of at least
1 − ``max_cosine_distance`` (text).

An attack succeeds when the outcome changes (``auditor.checks.goals``): a classifier's predicted
class; a regressor's prediction moving by at least ``target_shift`` standard deviations of the
evaluation predictions towards their median (the counterfactuals check's goal, searched there for
the nearest change and here in a given order).

Measurements: the guided attack's success rate within ``max_edits`` substitutions (exact 95% CI),
the control's, the median edits to succeed ("to flip") for both, and the guided/random edits ratio (mean edits, a
failure counting ``max_edits + 1``, over the attacked instances; percentile bootstrap CI over
instances; exactly 1 when nothing flips). A faithful explanation finds cheaper attacks (ratio below 1): a model-level
faithfulness signal beside the removal-based ones.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from auditor.checks.base import (
    MAX_INSTANCES, MAX_RESAMPLES, MAX_SHOWN, MIN_JUDGED, NON_NEGATIVE, SIGNED_UNIT, UNIT, Check, CheckOutput, Params,
    count, with_n, feature_value_text, priority_caveat, sample_sizes_of,
)
from auditor.checks.explainers import available_methods, ExplainerName, feature_vectors, require_moving_output
from auditor.checks.goals import NoTargetShift, outcome_goal, target_shift_field
from auditor.metrics.adversarial import costs, edits_ratio, greedy_substitution
from auditor.metrics.ranking import ranking_key
from auditor.metrics.statistics import finite_median, share_with_interval
from auditor.errors import CheckNotApplicable
from auditor.models.base import Capability
from auditor.models.substitution import stack_inputs
from auditor.results import NBSP, FileRef, SampleSize, Table, TokenHighlights, TokenSpan, in_units, number_text

MAX_EDITS = 50  # substitutions kept per instance and order
MAX_CANDIDATES = 100  # replacement values tried per unit
MIN_PAIRS = MIN_JUDGED  # instances below which the CIs are not judged (the gates report SampleTooSmall)
MAX_SHOWN_WORD = 60  # characters of one word (or the text's unread rest) an attack's pair shows


def _shown_word(text: str) -> str:
    """A word of an attack's pair as shown: a 20,000-character "word" filled eleven pages on each side."""
    return text if len(text) <= MAX_SHOWN_WORD else f"{text[:MAX_SHOWN_WORD]}… [{len(text) - MAX_SHOWN_WORD:,} more characters]"


class AdversarialRobustnessParams(Params):
    explainer: ExplainerName = "shap"  # whose ranking guides the attack (the policy's explainers: settings apply)
    n_instances: int = count(20, MAX_INSTANCES)  # explained rows; the correctly predicted ones are attacked
    max_edits: int = count(5, MAX_EDITS)  # substitutions per instance and order
    max_candidates: int = count(10, MAX_CANDIDATES)  # replacement values tried per word or feature
    # text: a substitute's cosine distance to the original word is at most this (similarity floor 1 − it)
    max_cosine_distance: float = Field(0.5, gt=0.0, le=2.0, allow_inf_nan=False)
    n_bootstrap: int = count(1000, MAX_RESAMPLES)
    n_shown: int = count(6, MAX_SHOWN)  # original -> adversarial pairs drawn in the report
    target_shift: float = target_shift_field()  # a regressor: how far the prediction must move


def _fmt(value) -> str:
    if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return "missing"
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return feature_value_text(value)
    return str(value)


def _stat(value) -> str:
    """A statistic of the attack (the edits ratio, its interval's ends) as the summary writes it: two
    decimals (a feature value's four significant digits had printed 0.6914 beside the summary's 0.69)."""
    return "undefined" if value is None or not np.isfinite(value) else number_text(value)


CONTEXT_WORDS = 12  # words shown either side of a substituted word in the report's text pairs


class AdversarialRobustness(Check):
    name = "adversarial_robustness"
    title = "Adversarial robustness"
    description = (
        "How few substitutions change a correct decision, and whether the explanation knows where to make them: "
        "a greedy attack replaces the features (words) an explanation ranks first by observed values of the "
        "evaluation data (words: the nearest words in the model's embedding space) until the predicted class "
        "changes — for a regressor, until the prediction has moved a set number of standard deviations towards "
        "the predictions' median — against the same search in a random order. A faithful explanation finds "
        "cheaper attacks."
    )
    # a regressor has no correct or wrong decision: every explained row is attacked, not the correct ones
    REGRESSOR_DESCRIPTION = (
        "How few substitutions move a prediction by the target shift, and whether the explanation knows where to "
        "make them: a greedy attack replaces the features an explanation ranks first by observed values of the "
        "evaluation data until the prediction has moved a set number of standard deviations towards the "
        "predictions' median, against the same search in a random order. A regressor has no correct or wrong "
        "decision, so every explained row is attacked. A faithful explanation finds cheaper attacks."
    )
    trust = True
    Params = AdversarialRobustnessParams
    explainer_params = ("explainer",)

    @classmethod
    def description_for(cls, capabilities) -> str:
        if capabilities is not None and Capability.REGRESSION in capabilities:
            return cls.REGRESSOR_DESCRIPTION
        return cls.description

    # success rates are shares; edits are counts (max_edits + 1 for an attack that failed) and their ratio is
    # positive; a substitute's closeness is a cosine similarity (text) or 1 less a quantile distance (tabular)
    ranges = {"n_instances": NON_NEGATIVE, "success_rate": UNIT, "success_rate_ci_low": UNIT, "success_rate_ci_high": UNIT,
              "control_success_rate": UNIT, "median_edits_to_flip": NON_NEGATIVE,
              "median_edits_to_flip_control": NON_NEGATIVE, "edits_ratio": NON_NEGATIVE, "edits_ratio_ci_low": NON_NEGATIVE,
              "edits_ratio_ci_high": NON_NEGATIVE, "median_substitution_closeness": SIGNED_UNIT}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        return ["n_instances", "success_rate", "success_rate_ci_low", "success_rate_ci_high", "control_success_rate",
                "median_edits_to_flip", "median_edits_to_flip_control", "edits_ratio", "edits_ratio_ci_low",
                "edits_ratio_ci_high", "median_substitution_closeness"]

    def run(self, ctx) -> CheckOutput:
        p = self.params
        model = ctx.model
        available_methods(ctx.task, [p.explainer])  # the one explainer this check follows, or not applicable
        if model.has(Capability.FEATURE_TABLE) and set(ctx.data.feature_names) <= set(ctx.card.auditor.immutable_features):
            raise CheckNotApplicable("does not apply: the card declares every feature immutable, so no attack can "
                                     "change an input (a success rate of 0 would say nothing of the model)")
        # Not a PASS: the gate reads the guided/random edits ratio, whether the explanation knows where to attack,
        # and all-zero explanations have no order (a constant classifier's ratio of exactly 1 had passed on 26
        # instances); nothing flipping is robustness only in that the model ignores its inputs, which
        # performance judges (a constant ROC AUC of 0.5, an R² of at most 0: FAIL)
        require_moving_output(ctx, "an explanation of zeros has no order to guide an attack, so the guided/random edits "
                                   "ratio would compare one arbitrary order with another; a model whose output does "
                                   "not move is robust only in ignoring its inputs, which performance judges")
        attr = ctx.attribution(p.explainer, p.n_instances)
        vectors = feature_vectors(attr)
        rows = np.asarray(attr.row_ids)
        start = ctx.predict_proba_rows(rows)
        pred = None if ctx.regression else ctx.predicted_index(start)
        correct = np.arange(len(rows)) if ctx.regression else np.flatnonzero(pred == ctx.label_index()[rows])
        rows, start = rows[correct], start[correct]
        pred = None if pred is None else pred[correct]
        vectors = [vectors[i] for i in correct]
        if not len(rows):  # nothing to attack: every gate on it says "nothing was measured (n = 0)"
            return self._nothing_measured(
                f"None of the {len(attr)} explained instances is predicted correctly, so there is no correct "
                "prediction to attack; nothing was measured.",
                f"An attack flips a correct prediction; the model is wrong on all {len(attr)} explained instances "
                "(raise n_instances, or audit on data the model gets right more often).",
                "no correct prediction to attack")
        try:
            goal = outcome_goal(ctx, rows, p.target_shift)
        except NoTargetShift as exc:  # one value up to rounding: no shift has a size (ERROR under a blocking gate)
            raise CheckNotApplicable(f"does not apply: {exc} (its size is a share of the predictions' spread, 0), so "
                                     "no attack has a goal") from None
        spaces = model.substitution_spaces(ctx.data, rows, max_candidates=p.max_candidates,
                                           similarity_floor=1.0 - p.max_cosine_distance,
                                           immutable=list(ctx.card.auditor.immutable_features))
        n = len(rows)
        sizes = [min(len(v), len(s.units)) for v, s in zip(vectors, spaces)]
        keys = [ranking_key(v[:m], by_abs=True) for v, m in zip(vectors, sizes)]
        guided = [np.argsort(-key, kind="stable") for key in keys]
        rng = ctx.rng("adversarial_robustness.control")
        control = [rng.permutation(m) for m in sizes]
        sent = [0]

        def predict(items):
            sent[0] += len(items)
            return model.predict_proba(stack_inputs(items))

        # both orders in one search, so every step is one batched model call
        results = greedy_substitution(spaces + spaces, guided + control, np.concatenate([start, start]), predict,
                                      lambda outputs, owner: goal.judge(outputs, owner % n), max_edits=p.max_edits)
        if not sent[0]:  # no unit had a substitute: robustness to attacks never made is not measured
            return self._nothing_measured(
                f"None of the {n} instances' {'words' if model.has(Capability.TOKENS) else 'features'} has a substitute "
                "within the search's bounds, so no attack was made; nothing was measured.",
                model.substitution_note(p) + " Widen max_cosine_distance or max_candidates to let the search try "
                                             "substitutes.",
                "no substitute to try")
        g_res, c_res = results[:n], results[n:]
        g_ok = np.array([r.success for r in g_res], dtype=bool)
        c_ok = np.array([r.success for r in c_res], dtype=bool)
        g_cost, c_cost = costs(g_res, p.max_edits), costs(c_res, p.max_edits)
        rate, rate_low, rate_high = share_with_interval(int(g_ok.sum()), n)
        # one unit to substitute (a one-word text, one mutable feature) has one order: its guided and random
        # searches are the same search, a tie on the ratio whatever the explanation ranks, so it is left out;
        # so is an explanation that ranks nothing (all its values equal: a constant model's zeros), whose
        # "order" is the column order: a constant classifier's ratio of exactly 1 had passed on 26 instances
        orderable = np.array([m >= 2 and bool(np.ptp(key) > 0) for m, key in zip(sizes, keys)], dtype=bool)
        ratio = edits_ratio(g_cost[orderable], c_cost[orderable], n_boot=p.n_bootstrap,
                            rng=ctx.rng("adversarial_robustness.ci"))
        closeness = [c for r in g_res if r.success for c in r.closeness]
        measurements = {
            "n_instances": float(n),
            "success_rate": rate, "success_rate_ci_low": rate_low, "success_rate_ci_high": rate_high,
            "control_success_rate": float(c_ok.mean()) if n else float("nan"),
            "median_edits_to_flip": finite_median(g_cost[g_ok]), "median_edits_to_flip_control": finite_median(c_cost[c_ok]),
            "edits_ratio": ratio["ratio"], "edits_ratio_ci_low": ratio["ci_low"], "edits_ratio_ci_high": ratio["ci_high"],
            "median_substitution_closeness": finite_median(closeness),
        }
        # Too few attacked instances: neither the ratio nor its interval is judged (one pair's ratio
        # would pass or warn by chance). An interval of zero width over enough instances is a finding
        # (no order flipped anything: the ratio is exactly 1), not a small sample.
        # shares and medians over attacked instances: judged from MIN_JUDGED of them, as every statistic
        # over explained instances is (a median of one flipped instance had passed)
        # the highest lower end n attacks can give (every one succeeding): a gate "success_rate_ci_low ≤ 0.5"
        # cannot fail on 5 instances (0.478), so its pass is not judged there
        sample_sizes = [SampleSize(measurement=m, n=n, min_n=None if m == "n_instances" else MIN_PAIRS,
                                   ci_low_ceiling=share_with_interval(n, n)[1] if m == "success_rate_ci_low" and n else None)
                        for m in ("n_instances", "success_rate", "success_rate_ci_low", "success_rate_ci_high",
                                  "control_success_rate")]
        sample_sizes += [SampleSize(measurement="median_edits_to_flip", n=int(g_ok.sum()), min_n=MIN_PAIRS),
                         SampleSize(measurement="median_edits_to_flip_control", n=int(c_ok.sum()), min_n=MIN_PAIRS),
                         SampleSize(measurement="median_substitution_closeness", n=len(closeness), min_n=MIN_PAIRS)]
        sample_sizes += [SampleSize(measurement=m, n=ratio["n"], min_n=MIN_PAIRS)
                         for m in ("edits_ratio", "edits_ratio_ci_low", "edits_ratio_ci_high")]

        verb = "shifted" if ctx.regression else "flipped"
        evidence = [self._summary_table(p, n, g_res, c_res, g_cost, c_cost, ratio, verb)]
        shown = [i for i in range(n) if g_res[i].success][: p.n_shown]
        if model.has(Capability.TOKENS):
            evidence.append(self._text_pairs(ctx, shown, rows, spaces, g_res, pred))
        else:
            evidence.append(self._tabular_pairs(ctx, shown, rows, spaces, g_res, pred, goal))
        evidence.append(FileRef(title="Every attack, guided and control",
                                path=self._csv(ctx, rows, spaces, g_res, c_res, pred, goal, verb)))
        notes = [f"An attack succeeds when {goal.criterion}.", model.substitution_note(p)]
        if ctx.regression:
            notes.append("A regressor has no correct or wrong decision: every explained instance is attacked.")
        elif len(correct) < len(attr):
            wrong = len(attr) - len(correct)
            notes.append(f"{wrong} of the {len(attr)} explained instances {'was' if wrong == 1 else 'were'} misclassified "
                         f"and {'is' if wrong == 1 else 'are'} not attacked (changing a wrong decision is no attack).")
        one_unit = np.array([m < 2 for m in sizes], dtype=bool)
        if one_unit.any():
            unit = "word" if model.has(Capability.TOKENS) else "feature"
            notes.append(f"{int(one_unit.sum())} of the {n} attacked instances have one {unit} to substitute, so "
                         f"any order is the random one: they are left out of the guided/random edits ratio "
                         f"(n = {ratio['n']}).")
        if (flat := int((~orderable & ~one_unit).sum())):
            notes.append(f"{flat} of the {n} attacked instances have an explanation that ranks nothing (every value "
                         f"equal), so its order is the column order: they are left out of the guided/random edits "
                         f"ratio (n = {ratio['n']}).")
        if n < MIN_PAIRS:
            notes.append(f"Only {n} {'' if ctx.regression else 'correctly predicted '}instances were attacked (fewer than {MIN_PAIRS}): the "
                         "intervals are not judged; raise n_instances.")
        outcome = (f"predictions moved by at least {p.target_shift:g} standard deviations towards the median "
                   f"({in_units(goal.need)} in the target's units)" if ctx.regression else "correct decisions changed")
        if not g_ok.any():
            summary = (f"No {'prediction' if ctx.regression else 'decision'} of the {n} attacked instances "
                       f"{'moved far enough' if ctx.regression else 'changed'} within {p.max_edits} substitutions in "
                       f"the order {p.explainer} ranks the inputs.")
        else:
            summary = (f"{rate:.0%} of {n} {outcome} within {p.max_edits} substitutions "
                       + (f"(95% CI {rate_low:.2f}–{rate_high:.2f}; " if n >= MIN_PAIRS else "(")
                       + f"median edits {measurements['median_edits_to_flip']:g}) when the inputs {p.explainer} ranks first "
                       f"were replaced, against {measurements['control_success_rate']:.0%} in a random order; "
                       + (f"guided/random edits {number_text(ratio['ratio'])}" if np.isfinite(ratio["ratio"]) else
                          "no guided/random edits ratio (no attacked instance has two units to order)")
                       + (f" (95% CI {number_text(ratio['ci_low'])}–{number_text(ratio['ci_high'])})." if np.isfinite(ratio["ci_low"]) else ".")
                       + priority_caveat(ctx.regression))
        key = "" if not n else with_n(f"{verb} {rate:.0%} in ≤{p.max_edits} edits"
                                       + (f"; guided/random {number_text(ratio['ratio'])}" if np.isfinite(ratio["ratio"]) else ""), n)
        cost = {"search_model_inputs": sent[0],
                "adversarial_search_forward_passes_per_instance": round(sent[0] / n, 1) if n else 0.0,
                "search_model_inputs_bound": int(sum(2 * m * p.max_candidates for m in sizes)),
                "attribution_model_inputs": attr.cost.get("requests", 0)}
        return CheckOutput(measurements=measurements, evidence=evidence, notes=notes, summary=summary,
                           key_figure=key, cost=cost, sample_sizes=sample_sizes)

    # ------------------------------------------------------------------ evidence
    def _nothing_measured(self, summary: str, note: str, key_figure: str) -> CheckOutput:
        """Every gate on it says "nothing was measured (n = 0)"."""
        names = self.measurement_names(self.params)
        return CheckOutput(measurements={m: None for m in names}, sample_sizes=sample_sizes_of(names, 0),
                           summary=summary, notes=[note], key_figure=key_figure, cost={"search_model_inputs": 0})

    @staticmethod
    def _summary_table(p, n, g_res, c_res, g_cost, c_cost, ratio, verb) -> Table:
        rows = []
        for label, res, cost in ((f"{p.explainer} order", g_res, g_cost), ("random order (control)", c_res, c_cost)):
            ok = np.array([r.success for r in res], dtype=bool)
            k = int(ok.sum())
            share, low, high = share_with_interval(k, n)
            rows.append([label, n, k, share, low, high, finite_median(cost[ok]) if k else None,
                         float(np.mean([r.visited for r in res])) if n else None])
        return Table(
            title="Greedy substitution attacks: explanation order against a random order",
            columns=["order", "n", verb, "success rate", "95% CI low", "95% CI high",
                     "median edits to " + ("flip" if verb == "flipped" else "shift"), "mean units visited"],
            rows=rows,
            caption=(f"At most {p.max_edits} substitutions per instance, {p.max_candidates} values tried per unit (a "
                     "feature or a word); units visited: those the search tried before it stopped. "
                     f"Guided/random edits {_stat(ratio['ratio'])} (95% bootstrap CI {_stat(ratio['ci_low'])}–"
                     f"{_stat(ratio['ci_high'])}, n = {ratio['n']}): the ratio of mean edits, a failure counting "
                     f"{p.max_edits + 1}. Medians are over {verb} instances; success-rate CIs are exact (Clopper-Pearson)."),
        )

    @staticmethod
    def _text_pairs(ctx, shown, rows, spaces, g_res, pred) -> TokenHighlights:
        classes, labels = ctx.classes, ctx.data.labels
        instances = []
        for i in shown:
            space, res = spaces[i], g_res[i]
            before, after, at = [], [], 0
            keep = {v for u in res.edits for v in range(u - CONTEXT_WORDS, u + CONTEXT_WORDS + 1)}
            elided = False
            for u, (s, e) in enumerate(space.spans):
                if u not in keep:  # far from every change: one ellipsis stands for the run
                    if not elided:
                        before.append(TokenSpan(text=" … ", value=None))
                        after.append(TokenSpan(text=" … ", value=None))
                    elided, at = True, e
                    continue
                if s > at and not elided:
                    before.append(TokenSpan(text=space.text[at:s], value=None))
                    after.append(TokenSpan(text=space.text[at:s], value=None))
                elided = False
                changed = u in res.edits
                word = _shown_word(space.text[s:e])
                before.append(TokenSpan(text=word, value=1.0 if changed else None))
                after.append(TokenSpan(text=_shown_word(res.edits[u]) if changed else word, value=1.0 if changed else None))
                at = e
            if at < len(space.text) and not elided:
                before.append(TokenSpan(text=_shown_word(space.text[at:]), value=None))
                after.append(TokenSpan(text=_shown_word(space.text[at:]), value=None))
            c, c_new = int(pred[i]), int(ctx.predicted_index(res.proba.reshape(1, -1))[0])
            start = ctx.predict_proba_rows(rows[i: i + 1])[0]
            instances.append({"row": f"{int(rows[i])}, original", "label": str(labels[int(rows[i])]),
                              "predicted": classes[c], "probability": float(start[c]), "spans": before})
            instances.append({"row": f"{int(rows[i])}, adversarial ({res.n_edits} edit{'s' * (res.n_edits != 1)})",
                              "label": str(labels[int(rows[i])]), "predicted": classes[c_new],
                              "probability": float(res.proba[c_new]), "spans": after})
        return TokenHighlights(
            title="Original → adversarial texts (changed words highlighted)", instances=instances, scale=1.0,
            signed=False,
            caption=(f"The first {len(shown)} texts whose decision the guided attack changed, each shown before and "
                     "after; highlighted: the words replaced (before) and their substitutes (after), with "
                     f"{CONTEXT_WORDS} words of context either side (… : words left out; the whole text is the "
                     "evaluation row named, the substitutions are in the evidence CSV). Probability: of the predicted "
                     "class."),
        )

    @staticmethod
    def _tabular_pairs(ctx, shown, rows, spaces, g_res, pred, goal) -> Table:
        was, becomes = goal.texts(np.array([r.proba for r in g_res])) if g_res else ([], [])
        out = []
        for i in shown:
            space, res = spaces[i], g_res[i]
            changes = "; ".join(f"{space.units[u]}: {_fmt(space.original(u))}{NBSP}→{NBSP}{_fmt(v)}" for u, v in res.edits.items())
            out.append([str(int(rows[i])), f"{was[i]}{NBSP}→{NBSP}{becomes[i]}", res.n_edits, changes]
                       + ([] if pred is None else [float(res.proba[int(pred[i])])]))
        return Table(title="Original → adversarial rows (only the changed features are listed)",
                     columns=["instance", goal.column, "edits", "changed features (original → adversarial)"]
                     + ([] if pred is None else ["p(original class) after"]),
                     rows=out,
                     caption=f"The first {len(shown)} rows whose {goal.column} the guided attack changed"
                             + (" far enough" if pred is None else "") + "; every other feature keeps its value.")

    @staticmethod
    def _csv(ctx, rows, spaces, g_res, c_res, pred, goal, verb) -> str:
        lines = []
        for order, results in (("explanation", g_res), ("random", c_res)):
            was, becomes = goal.texts(np.array([r.proba for r in results])) if results else ([], [])
            for i, res in enumerate(results):
                space = spaces[i]
                lines.append([int(rows[i]), order, "yes" if res.success else "no", res.n_edits, res.visited,
                              was[i], becomes[i]] + ([] if pred is None else [repr(float(res.proba[int(pred[i])]))])
                             + ["; ".join(f"{space.units[u]}: {space.original(u)} -> {v}" for u, v in res.edits.items())])
        before_after = ["prediction_before", "prediction_after"] if pred is None else ["class_before", "class_after",
                                                                                         "p_original_class_after"]
        return ctx.add_csv("evidence/adversarial_robustness.csv",
                           ["row", "order", verb, "edits", "units_visited", *before_after, "substitutions"], lines)
