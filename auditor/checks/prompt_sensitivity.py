"""prompt_sensitivity: does a prompted classifier decide, and explain, the same under paraphrases of
its instructions?

A causal LM used as a classifier through a prompt (card ``model.head: causal-lm``) is run on every
evaluation row under each prompt variant — those the policy lists (``variants``) and those the card
lists (``auditor.prompt_variants``) — and compared with the card's own prompt:

* **accuracy** under each prompt, and the largest drop from the card prompt's, with its 95%
  interval: the rows only the card prompt gets right less those only the paraphrase gets right, a
  paired difference (Tango's score interval). ``accuracy_drop_max_ci_high`` is the largest upper end
  over the variants (a gate on it passes only where every paraphrase is shown to cost at most the
  bound; 73 rows or more for a bound of 0.05), ``accuracy_drop_max_ci_low`` the largest lower end of
  the variants' simultaneous intervals (each at 1 − 0.05/V, Bonferroni, over V variants: a gate on it
  fails only where some paraphrase is shown to cost more, and a model whose every paraphrase costs
  exactly the bound is failed at most 2.5% of the time, not once per variant: 5 such variants had
  failed 10-13% of the time on 100-300 rows, 10 variants 23%);
* **decision agreement**: the share of rows whose predicted class is the card prompt's, the lowest
  over the variants, with its exact (Clopper-Pearson) lower end ``decision_agreement_min_ci_low``;
* **explanation agreement**: per explained row, the Spearman rank correlation of the |word
  attributions| of the card prompt's explanation and the variant's (same explainer, same rows, same
  class: the one the card prompt predicts; only the ``{text}`` part is explained, so the words are
  the same), median over rows; the
  smallest median over variants is the measurement, judged from 5 rows and only above what
  unrelated rankings of the same rows reach in 5% of draws (``chance_p95``).

A classifier whose decisions or explanations move with a paraphrase of its instructions must not
pass silently. Skipped on a model without a prompt (the ``prompted`` capability).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from auditor.checks.base import MIN_JUDGED, NON_NEGATIVE, SIGNED_UNIT, UNIT, Check, CheckOutput, Params, count, with_n
from auditor.checks.explainers import feature_vectors
from auditor.inputs.model_card import text_slot_problem
from auditor.metrics.statistics import finite_median, paired_difference_interval, share_with_interval
from auditor.models.base import Capability
from auditor.results import BarChart, Note, SampleSize, Table

MAX_VARIANTS = 10


def largest_drop_low(discordant: list[tuple[int, int]], n: int, alpha: float = 0.05) -> float:
    """The largest lower end, over the variants, of the accuracy drop's simultaneous (1 − α) intervals:
    per variant the rows only the card prompt gets right and those only the variant gets right
    (``discordant``), of ``n`` rows; each interval at 1 − α/V (Bonferroni). "Some paraphrase costs
    more than the bound" is claimed of the largest of V lower ends, so each must err at most α/V
    for the claim to err at most α (2.5% one-sided) whatever V. The upper ends need no correction: a
    pass on them needs every one below the bound (an intersection-union test)."""
    return float(max(paired_difference_interval(b, c, n, alpha=alpha / len(discordant))[0] for b, c in discordant))


def _kept_chars(encoded) -> np.ndarray:
    """Per text, how many of its characters the model reads (its tokens' furthest end), -1 where it
    reads the whole text: a text cut to fit beside a prompt keeps fewer. A whole text's last characters
    may be read in a token of the prompt's (a '."' merged with its closing quote), no end of the text's."""
    return np.array([-1 if not e.truncated else int(e.offsets[:, 1].max()) if len(e.offsets) else 0
                     for e in encoded])


class PromptSensitivityParams(Params):
    variants: list[str] = Field(default_factory=list, max_length=MAX_VARIANTS)  # each holds {text} exactly once
    use_card_variants: bool = True  # add the card's auditor.prompt_variants
    explainer: str = "integrated_gradients"
    n_instances: int = count(12, 200, minimum=2)

    @field_validator("variants")
    @classmethod
    def _one_text_slot(cls, v: list[str]) -> list[str]:
        for i, prompt in enumerate(v):
            if not 1 <= len(prompt) <= 4000:
                raise ValueError(f"variants[{i}]: a prompt of 1 to 4000 characters expected")
            if why := text_slot_problem(prompt):
                raise ValueError(f"variants[{i}]: {why}")
        return v

    @field_validator("explainer")
    @classmethod
    def _token_explainer(cls, v: str) -> str:
        known = ("integrated_gradients", "gradient_x_input", "saliency", "shap", "lime")
        if v not in known:
            raise ValueError(f"unknown explainer {v!r}; one of {', '.join(known)}")
        return v


class PromptSensitivity(Check):
    name = "prompt_sensitivity"
    title = "Prompt sensitivity"
    description = (
        "A prompted classifier is run and explained under each listed paraphrase of its prompt: accuracy, "
        "the share of rows whose decision stays the card prompt's, and the rank agreement of the word "
        "explanations (median Spearman ρ of |attributions| per row). Decisions or explanations that change "
        "with the wording of the instructions are not the model's understanding of the text."
    )
    requires = frozenset({Capability.PROBABILITIES, Capability.TOKENS, Capability.PROMPTED})
    explainer_params = ("explainer",)
    trust = True
    Params = PromptSensitivityParams
    # the attributions compared are of n_instances rows; the accuracies and decisions are over every row
    rests_on = {"n_instances": ("explanation_rank_correlation_min",)}

    # accuracies and agreements are shares; a drop is a difference of two accuracies (a paraphrase may do better),
    # as are its interval's ends (Tango's); the rank correlation is Spearman's
    ranges = {"n_variants": NON_NEGATIVE, "accuracy_card_prompt": UNIT, "accuracy_min": UNIT,
              "accuracy_drop_max": SIGNED_UNIT, "accuracy_drop_max_ci_low": SIGNED_UNIT,
              "accuracy_drop_max_ci_high": SIGNED_UNIT, "decision_agreement_min": UNIT,
              "decision_agreement_min_ci_low": UNIT, "explanation_rank_correlation_min": SIGNED_UNIT}

    @classmethod
    def measurement_names(cls, params) -> list[str]:
        return ["n_variants", "accuracy_card_prompt", "accuracy_min", "accuracy_drop_max", "accuracy_drop_max_ci_low",
                "accuracy_drop_max_ci_high", "decision_agreement_min", "decision_agreement_min_ci_low",
                "explanation_rank_correlation_min"]

    def run(self, ctx) -> CheckOutput:
        from auditor.metrics.agreement import rank_correlation  # scipy: imported when the check runs
        from auditor.metrics.chance import rank_correlation_chance

        p = self.params
        model = ctx.model
        variants = list(dict.fromkeys(
            p.variants + (list(ctx.card.auditor.prompt_variants or []) if p.use_card_variants else [])))
        listed = [v for v in variants if v != model.prompt]
        variants, unmeasured = listed[:MAX_VARIANTS], listed[MAX_VARIANTS:]
        measurements: dict[str, float | None] = {n: None for n in self.measurement_names(p)}
        measurements["n_variants"] = float(len(variants))
        # each distinct text (with its label) once: 20 reviews copied 10 times are 20 draws, not the 200
        # whose intervals had passed every gate
        drawn = ctx.first_copies()
        # a text too long for the model is cut to fit beside each prompt, so a longer paraphrase reads
        # fewer of its words: compared on the texts every prompt reads to the same word, the drop is the wording's
        texts = ctx.data.texts()
        kept = _kept_chars(model.encode(texts))
        same = np.ones(len(texts), dtype=bool)
        for prompt in variants:
            same &= _kept_chars(model.with_prompt(prompt).encode(texts)) == kept
        cut = int(np.sum(drawn & ~same)) if variants else 0
        if variants:
            drawn = drawn & same
        labels = np.asarray(ctx.data.labels, dtype=object).astype(str)[drawn]
        classes = np.asarray(model.classes, dtype=object)
        base_pred = ctx.predicted_index()[drawn]
        base_right = classes[base_pred] == labels
        base_acc = float(np.mean(base_right))
        n_rows = len(labels)
        measurements["accuracy_card_prompt"] = base_acc
        base_attr = ctx.attribution(p.explainer, p.n_instances)
        base_vectors = feature_vectors(base_attr)
        rows, cost = [["card prompt", model.prompt, base_acc, "", "", None]], 0
        accs, agreements, rhos, drop_ends, agreement_lows, discordant = [], [], [], [], [], []
        n_right = [int(np.sum(base_right))]  # per prompt, the card's first: the accuracy chart's intervals
        for prompt in variants:
            variant = model.with_prompt(prompt)
            # each row explained for the class the card prompt predicts (as explanation_sanity): with three
            # or more classes a row whose decision moved compared one class's attributions with another's
            vctx = ctx.with_model(variant, explain_audited_class=True)
            pred = vctx.predicted_index()[drawn]
            right = classes[pred] == labels
            acc = float(np.mean(right))
            n_right.append(int(np.sum(right)))
            discordant.append((int(np.sum(base_right & ~right)), int(np.sum(~base_right & right))))
            drop_ends.append(paired_difference_interval(*discordant[-1], n_rows))
            agree, agree_low, agree_high = share_with_interval(int(np.sum(pred == base_pred)), n_rows)
            agreement_lows.append(agree_low)
            attr = vctx.attribution(p.explainer, p.n_instances)
            rho = finite_median([rank_correlation(a, b) if len(a) >= 2 and len(a) == len(b) else np.nan
                           for a, b in zip(base_vectors, feature_vectors(attr))])
            accs.append(acc), agreements.append(agree), rhos.append(np.nan if rho is None else rho)
            rows.append([f"variant {len(rows)}", prompt, acc,
                         f"{base_acc - acc:.3f} ({drop_ends[-1][0]:.3f} to {drop_ends[-1][1]:.3f})",
                         f"{agree:.3f} ({agree_low:.3f}–{agree_high:.3f})", rho])
            cost += variant.stats.requests
        evidence = [Table(title="Accuracy, decisions and explanations under each prompt",
                          columns=["prompt", "text", "accuracy", "accuracy drop (95% CI)",
                                   "same decision as the card prompt (95% CI)", f"median ρ of {p.explainer} |attributions|"],
                          rows=rows, caption=(f"Accuracy and decisions on all {n_rows} evaluation rows"
                                              if n_rows == len(ctx.data) else
                                              f"Accuracy and decisions on the {n_rows} distinct texts"
                                              + (" every prompt reads alike" if cut else "")
                                              + f" of the {len(ctx.data)} evaluation rows"
                                              + (" (a copy is the same draw again)" if not ctx.first_copies().all() else ""))
                                             + "; drop: the card "
                                             "prompt's accuracy less the variant's, Tango's interval for a paired "
                                             "difference; same decision: exact binomial interval; ρ: Spearman rank "
                                             "correlation per explained row of the word attributions under the card "
                                             f"prompt and the variant ({len(base_vectors)} rows)."
                                             + ("" if len(variants) < 2 else
                                                f" The gated largest lower end is over the {len(variants)} "
                                                "variants' simultaneous intervals (each at 1 − 0.05/"
                                                f"{len(variants)}), so it is at most the largest shown here."))]
        notes = []
        if unmeasured:  # the policy's and the card's variants together may exceed what one check measures
            notes.append(f"{len(unmeasured)} prompt variant{'s were' if len(unmeasured) != 1 else ' was'} not measured: "
                         f"only the first {MAX_VARIANTS} listed (the policy's, then the card's) are compared "
                         f"({'; '.join(repr(v) for v in unmeasured)}).")
        if cut:
            notes.append(f"{cut} text{'s are' if cut != 1 else ' is'} cut to fit beside the prompts, and not to the same "
                         "words under each (a longer prompt leaves fewer of the text's words): "
                         f"{'they are' if cut != 1 else 'it is'} left out, so every prompt is compared on the same "
                         f"words ({n_rows} rows).")
        if variants and not n_rows:  # every text cut to other words beside some prompt: nothing to compare
            summary = (f"No text is read to the same words under all {len(variants) + 1} prompts (each is cut to "
                       "fit beside them), so prompt sensitivity was not measured.")
        elif variants:
            measurements["accuracy_min"] = float(min(accs))
            measurements["accuracy_drop_max"] = float(base_acc - min(accs))
            measurements["accuracy_drop_max_ci_low"] = largest_drop_low(discordant, n_rows)
            measurements["accuracy_drop_max_ci_high"] = float(max(high for _, high in drop_ends))
            measurements["decision_agreement_min"] = float(min(agreements))
            measurements["decision_agreement_min_ci_low"] = float(min(agreement_lows))
            measurements["explanation_rank_correlation_min"] = float(np.nanmin(rhos)) if np.isfinite(rhos).any() else None
            ends = [share_with_interval(k, n_rows)[1:] for k in n_right]
            evidence.append(BarChart(title="Accuracy per prompt", labels=[r[0] for r in rows],
                                     values=[float(r[2]) for r in rows], xlabel="accuracy",
                                     low=[lo for lo, _ in ends], high=[hi for _, hi in ends],
                                     caption=f"n = {n_rows} evaluation rows under every prompt (the same rows); "
                                             "error bars: 95% exact binomial interval (Clopper-Pearson) of each "
                                             "prompt's accuracy. The drop's paired interval is in the table above."))
            summary = (f"Across {len(variants)} prompt variant{'s' * (len(variants) != 1)} on {n_rows} rows, the lowest "
                       f"accuracy is {min(accs):.3f} (card prompt {base_acc:.3f}; no paraphrase costs more than "
                       f"{measurements['accuracy_drop_max_ci_high']:.3f} at the 95% interval's upper end), at least "
                       f"{min(agreements):.0%} of decisions stay the same"
                       + (f" and explanations keep a median rank correlation of at least {np.nanmin(rhos):.2f}."
                          if np.isfinite(rhos).any() else "; no explanation could be compared."))
        else:
            notes.append("Neither the policy (variants) nor the card (auditor.prompt_variants) lists a prompt "
                         "variant other than the card's prompt, so nothing was compared: list paraphrases in "
                         "the card's auditor.prompt_variants to measure prompt sensitivity.")
            summary = "No prompt variant was listed; prompt sensitivity was not measured."
        evidence.append(Note(title="How prompts are compared",
                             text="Each prompt keeps the card's label words; only the {text} part is explained, "
                                  "so word attributions under different prompts refer to the same words."))
        key = ("" if not variants else "no text compared" if not n_rows else
               with_n(f"min acc {min(accs):.3f} (card {base_acc:.3f}), agreement ≥ {min(agreements):.0%}", n_rows))
        # With no variant the comparisons rest on nothing (n = 0): a gate on them is unjudgeable
        # (ERROR), neither passed nor a finding against the model.
        # the rows whose words can be ranked (2 or more), and what unrelated rankings of them reach
        words = [len(a) for a in base_vectors if len(a) >= 2] if variants else []
        chance = rank_correlation_chance(words, rng=ctx.rng("prompt_sensitivity.chance")) if words else None
        n_compared, n_explained = (n_rows, len(words)) if variants and n_rows else (0, 0)
        sizes = [SampleSize(measurement="n_variants", n=len(variants)),
                 SampleSize(measurement="accuracy_card_prompt", n=n_rows),
                 *(SampleSize(measurement=m, n=n_compared) for m in (
                     "accuracy_min", "accuracy_drop_max", "decision_agreement_min")),
                 # the highest lower end n rows can give (every row right under the card prompt only, in every
                 # variant): on 4 rows it is 0.02, so a gate "accuracy_drop_max_ci_low ≤ 0.05" cannot fail there
                 SampleSize(measurement="accuracy_drop_max_ci_low", n=n_compared,
                            ci_low_ceiling=largest_drop_low([(n_compared, 0)] * len(variants), n_compared)
                            if n_compared else None),
                 # what no moved decision gives: a gate below it needs a paraphrase right more often
                 SampleSize(measurement="accuracy_drop_max_ci_high", n=n_compared,
                            ci_high_floor=paired_difference_interval(0, 0, n_compared)[1] if n_compared else None),
                 SampleSize(measurement="decision_agreement_min_ci_low", n=n_compared,
                            ci_low_ceiling=share_with_interval(n_compared, n_compared)[1] if n_compared else None),
                 SampleSize(measurement="explanation_rank_correlation_min", n=n_explained, min_n=MIN_JUDGED,
                            chance_p95=chance)]
        return CheckOutput(measurements=measurements, evidence=evidence, notes=notes, summary=summary,
                           key_figure=key, cost={"model_inputs": cost}, sample_sizes=sizes)
