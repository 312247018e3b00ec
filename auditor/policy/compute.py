"""A bound on a check's total compute: each parameter has its own maximum (checks/base.py,
explain/__init__.py), but their product is what the model runs. ``n_instances: 10000`` with SHAP at
``max_evals: 20000`` and ``n_seeds: 20`` was valid, each value within its bound: 4e9 model
evaluations, weeks of a text model's time, found only once the run was under way.

A check's estimate is a sum of terms, each a product of its parameters (``FORMULAS``): the rows or
instances it works on, the model evaluations one explanation of an instance costs with the policy's
explainer settings for the task (``EXPLAINED``: summed over the check's explainers), and what it repeats
(seeds, perturbations, randomised models, control orders, variants). A tabular explainer's cost grows
with the number of features, and permutation importance's with the features too: the estimate counts
one feature (the data are not read when the policy is), so it is the parameters' product, not a
forecast of the run. A ``max_rows`` of none (every row) takes the policy's ``dataset.max_rows``, else
leaves that term out (the data's size is not known yet).

A check whose estimate, on any task it may run on, exceeds :data:`MAX_EVALUATIONS` is an invalid
policy (exit 3), located at the check, before any model loads.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

# The largest estimate among the built-in policies is 66,000 (default's partial_dependence on a
# tabular model: n_repeats 5 x max_rows 10,000 + n_features 4 x grid_resolution 20 x n_ice 200); the
# largest on a text model 15,300 (text-default's explanation_stability: 12 instances x integrated
# gradients' 255 points x 2 seeds + 3 perturbations). 10,000,000 is about 150x the first and 650x the
# second: room for a policy that explains ten times the rows with ten times the samples, while a product
# of 1e8 or more (days of a small BERT's passes at 50-500 a second) is refused before it starts.
MAX_EVALUATIONS = 10_000_000

# check -> terms; each term a product of factors (a parameter's name, or one of those ``_terms`` derives:
# "explained", "variants", "seed_runs", "rankings", "per_ranking")
FORMULAS: dict[str, list[tuple[str, ...]]] = {
    "global_importance": [("n_repeats", "max_rows"), ("n_instances", "explained")],
    "local_explanations": [("n_instances", "explained")],
    "text_explanations": [("n_instances", "explained")],
    "explanation_axioms": [("n_instances", "explained")],
    "explainer_agreement": [("n_instances", "explained")],
    "attention": [("n_instances", "explained")],
    "similar_examples": [("n_instances",)],
    # each explainer's ranking and each random control order: deletion and insertion curves, the ERASER
    # bins' comprehensiveness and sufficiency, leave-one-out positions and correlation subsets
    "explanation_faithfulness": [("n_instances", "explained"), ("n_instances", "rankings", "per_ranking")],
    "explanation_stability": [("n_instances", "explained", "n_seeds"), ("n_instances", "explained", "n_perturbations")],
    "explanation_sanity": [("n_instances", "explained"), ("n_instances", "explained", "n_randomised")],
    "prompt_sensitivity": [("n_instances", "explained", "variants")],
    "subgroup_fairness": [("n_instances", "explained"), ("n_instances", "control_orders")],
    "explanation_clustering": [("n_instances", "explained", "seed_runs"), ("n_instances", "control_orders")],
    "counterfactuals": [("n_instances", "max_features_changed", "n_values"), ("n_instances", "refine_steps")],
    "partial_dependence": [("n_features", "grid_resolution", "n_ice"), ("n_repeats", "max_rows")],
    "adversarial_robustness": [("n_instances", "explained"), ("n_instances", "max_edits", "max_candidates")],
}


def explanation_cost(task: str, method: str, params: dict[str, Any]) -> tuple[int, str]:
    """Model evaluations one explanation of an instance costs by ``method`` with ``params`` (its
    settings in effect), and how that was counted."""
    if method == "shap" and task != "text-classification":  # permutation SHAP over the background, per feature
        n = 2 * params["permutations"] * params["background_size"]
        return n, f"shap 2 x permutations {params['permutations']} x background_size {params['background_size']}"
    for key in ("num_samples", "max_evals", "n_steps"):
        if key in params:
            return params[key], f"{method} {key} {params[key]}"
    return 1, f"{method} 1"


def explainers_of(check: str, params: Any, task: str) -> list[str]:
    """The explanation methods ``check`` runs on ``task`` with ``params`` (``Check.explainers``)."""
    from auditor.checks import CHECK_REGISTRY

    return CHECK_REGISTRY[check].explainers(params, task)


def estimate(check: str, params: Any, task: str, explainers: dict[str, dict[str, Any]],
             dataset_rows: int | None) -> tuple[int, list[str]]:
    """A check's estimated model evaluations on ``task`` and each term as said (``n_instances 12 x
    explained 1664 (...) = ...``). ``explainers``: the policy's settings for the task (``explainers_for``)."""
    total, terms = _terms(check, params, task, explainers, dataset_rows)
    return total, [said for _, _, said in terms]


def _terms(check: str, params: Any, task: str, explainers: dict[str, dict[str, Any]],
           dataset_rows: int | None) -> tuple[int, list[tuple[int, tuple[str, ...], str]]]:
    from auditor.explain import EXPLAINERS

    costs = []
    for m in explainers_of(check, params, task):
        try:
            settings = EXPLAINERS[task][m].Params.model_validate(explainers.get(m) or {}).model_dump()
        except ValidationError:  # a shared explainers: entry another task's variant takes (max_evals for text
            continue  # SHAP): this task's explainer cannot run with it and evaluates nothing here
        costs.append(explanation_cost(task, m, settings))
    factors: dict[str, tuple[int, str]] = {
        "explained": (sum(n for n, _ in costs), " + ".join(said for _, said in costs) or "no explainer"),
        "variants": (len(getattr(params, "variants", []) or []) + 1, "the prompt and its variants"),
        "seed_runs": (2 if getattr(params, "seed_stability", False) else 1, "seed_stability"),
    }
    if check == "explanation_faithfulness":  # n_steps none: one per feature or bin (the bins' count stands in)
        bins = len(params.bins)
        points = 2 * (params.n_steps or bins) + 2 * bins + (params.loo_positions or 0) + params.correlation_runs
        factors["rankings"] = (len(costs) + params.control_orders, "explainers + control_orders")
        factors["per_ranking"] = (points, "2 x curve points + 2 x bins + loo_positions + correlation_runs")
    total, terms = 0, []
    for term in FORMULAS.get(check, []):
        values = []
        for name in term:
            if name in factors:
                n, how = factors[name]
                values.append((n, f"{name} {n:,}" + (f" ({how})" if name not in ("variants", "seed_runs") else "")))
                continue
            value = getattr(params, name)
            if value is None and name == "max_rows":
                value = dataset_rows
            if value is None:
                break  # every row of data not read yet, or a parameter derived from the data
            values.append((int(value), f"{name} {int(value):,}"))
        else:
            product = math.prod(n for n, _ in values)
            total += product
            terms.append((product, term, " x ".join(said for _, said in values) + f" = {product:,}"))
    return total, terms


def _named_files_explainer(named: dict | None, task: str, methods: list[str]) -> str | None:
    """Where the named policy file sets the settings of one of ``methods`` that ``task`` uses (its
    ``task_explainers`` block for the task, else its ``explainers`` block), if it does."""
    if not isinstance(named, dict):
        return None
    per_task = named.get("task_explainers") if isinstance(named.get("task_explainers"), dict) else {}
    per_task = per_task.get(task) if isinstance(per_task.get(task), dict) else {}
    shared = named.get("explainers") if isinstance(named.get("explainers"), dict) else {}
    for m in methods:
        if m in per_task:
            return f"task_explainers.{task}.{m}"
        if m in shared:
            return f"explainers.{m}"
    return None


def compute_problems(policy, entries: list, params: list, registry, named_raw: dict | None = None) -> list:
    """A check whose estimate exceeds :data:`MAX_EVALUATIONS` on a task it may run on, located at the
    largest parameter of its largest term that the policy set: one the named file (``named_raw``, its raw
    mapping) set first, else the explainer settings it set where that term counts an explanation's
    evaluations, else one a policy it extends set (else at the check). A child that raised only SHAP's
    budget is told so at its own explainers block, not at a built-in policy's n_instances."""
    from auditor.errors import Problem

    problems = []
    for entry, p in zip(entries, params):
        check = entry.spec["check"]
        tasks = [t for t in registry[check].applicable_tasks() if not entry.spec.get("tasks") or t in entry.spec["tasks"]]
        found = [(_terms(check, p, t, policy.explainers_for(t), policy.dataset.max_rows), t) for t in tasks]
        over = [(total, terms, t) for (total, terms), t in found if total > MAX_EVALUATIONS]
        if not over:
            continue
        total, terms, task = max(over, key=lambda o: o[0])
        _, largest, _ = max(terms)
        # the parameter of the largest term the policy set, the largest first (none: every row)
        set_here = sorted((n for n in largest if n in entry.params_at), key=lambda n: math.inf if getattr(p, n) is None
                          else getattr(p, n))
        mine = [n for n in set_here if entry.params_at[n].startswith("checks[")]  # the named file's: no file prefix
        setting = "explained" in largest and _named_files_explainer(named_raw, task, explainers_of(check, p, task))
        where = (f"{entry.params_at[mine[-1]]}.params.{mine[-1]}" if mine else setting if setting else
                 f"{entry.params_at[set_here[-1]]}.params.{set_here[-1]}" if set_here else entry.last)
        named = f"check {entry.check_id!r}" + (f" ({check})" if entry.check_id != check else "")
        said = " + ".join(said for _, _, said in terms)
        problems.append(Problem(where, (
            f"{named} asks for about {total:,} model evaluations on {task} models, above the limit of "
            f"{MAX_EVALUATIONS:,} per check: {said}; lower the parameters that multiply (or the explainers' budgets)")))
    return problems
