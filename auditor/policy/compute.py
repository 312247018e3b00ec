"""A bound on a check's total compute: each parameter has its own maximum (checks/base.py,
explain/__init__.py), but their product is what the model runs. ``n_instances: 10000`` with SHAP at
``max_evals: 20000`` and ``n_seeds: 20`` was valid, each value within its bound: 4e9 model
evaluations, weeks of a text model's time, found only once the run was under way.

A check's estimate is a sum of terms, each a product of its parameters (``FORMULAS``): the rows or
instances it works on, the model evaluations one explanation of an instance costs with the policy's
explainer settings for the task (``EXPLAINED``: summed over the check's explainers), and what it repeats
(seeds, perturbations, randomised models, control orders, variants). On a tabular model what grows
with the number of features counts them (the factor ``features``): permutation SHAP walks every
feature, permutation importance shuffles each one, the counterfactual search moves each one to each
of its candidate values, and a deletion curve (a random control order's, or faithfulness' with
``n_steps`` none) removes one feature at a time. LIME's sampling and a text model's terms do not. The
features are known once a card or dataset is (``validate --card``/``--data``, ``run``:
:func:`feature_problems`); when the policy alone is read they are not, and one is counted (the term
says so), so that estimate is the parameters' product, not a forecast of the run. Once the dataset is
read (``validate --data``, ``run``) a parameter that counts rows (``n_instances``, ``max_rows``,
``n_ice``, SHAP's ``background_size``) is at most the rows it holds, as the run takes them, and
partial dependence's ``n_features`` at most the model's. Before, a ``max_rows`` of none (every row)
takes the policy's ``dataset.max_rows``, else leaves that term out (the data's size is not known yet).

A check whose estimate, on any task it may run on, exceeds :data:`MAX_EVALUATIONS` is an invalid
policy (exit 3), before any model loads. Counted on the features of the card or dataset it is run on,
a tabular check is bounded by :data:`MAX_TABULAR_EVALUATIONS` (rows through a model that scores one in
microseconds); one beyond it is refused as that policy for those data (exit 3), before the model loads
too. Both are located where the policy set what multiplies (:func:`located`): in the named file, or in
a policy it extends (``<file>:checks[3].params.n_repeats``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

# The largest estimate among the built-in policies, one feature counted, is 66,000 (default's
# partial_dependence on a tabular model: n_repeats 5 x max_rows 10,000 + n_features 4 x grid_resolution
# 20 x n_ice 200); the largest on a text model 15,300 (text-default's explanation_stability: 12 instances
# x integrated gradients' 255 points x 2 seeds + 3 perturbations). 10,000,000 is about 150x the first and
# 650x the second: room for a policy that explains ten times the rows with ten times the samples, while a
# product of 1e8 or more (days of a small BERT's passes at 50-500 a second) is refused before it starts.
MAX_EVALUATIONS = 10_000_000

# Once a tabular model's features are counted, the bound is on rows through the model: a fitted tabular
# model scores a row in microseconds (batched), a transformer a text in milliseconds, about 1,000x more.
# 10,000,000 there refused the built-in default on a dataset of 167 features or more (its global_importance
# shuffles each feature over 10,000 rows, 5 times: 60,000 per feature), a width credit-bureau data reach,
# for a check that costs seconds. 1,000,000,000 rows are minutes to hours of a tabular model (1-10 us a
# row): the default's global_importance reaches it at 16,667 features. The credit example's 13 features
# give 780,000 (5 x 10,000 x 13 + 100 SHAP explanations of 2 x 13 x 50).
MAX_TABULAR_EVALUATIONS = 1_000_000_000

# check -> terms; each term a product of factors (a parameter's name, or one of those ``_terms`` derives:
# "explained", "variants", "seed_runs", "rankings", "per_ranking", "features": the last on tabular models only)
FORMULAS: dict[str, list[tuple[str, ...]]] = {
    "global_importance": [("n_repeats", "max_rows", "features"), ("n_instances", "explained")],
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
    "subgroup_fairness": [("n_instances", "explained"), ("n_instances", "control_orders", "features")],
    "explanation_clustering": [("n_instances", "explained", "seed_runs"), ("n_instances", "control_orders", "features")],
    "counterfactuals": [("n_instances", "max_features_changed", "n_values", "features"), ("n_instances", "refine_steps")],
    "partial_dependence": [("n_features", "grid_resolution", "n_ice"), ("n_repeats", "max_rows", "features")],
    "adversarial_robustness": [("n_instances", "explained"), ("n_instances", "max_edits", "max_candidates")],
}


def tabular(task: str) -> bool:
    return task != "text-classification"


def features_counted(n_features: int | None) -> tuple[int, str]:
    """The ``features`` factor of a tabular model's terms: the card's or dataset's count, else one."""
    if n_features is None:
        return 1, "features 1 (not known before a card or the data: one counted)"
    return n_features, f"features {n_features:,} (the data's)"


# parameters that count evaluation rows: a run takes at most the rows the data hold
ROW_FACTORS = ("n_instances", "max_rows", "n_ice")


def at_most(name: str, value: int, limit: int | None, what: str) -> tuple[int, str]:
    """``name value``, or the ``limit`` of ``what`` the data hold where it is smaller (as a run takes it)."""
    if limit is not None and value > limit:
        return limit, f"{name} {limit:,} (the data's {what}, of {value:,})"
    return value, f"{name} {value:,}"


def explanation_cost(task: str, method: str, params: dict[str, Any], n_features: int | None = None,
                     n_rows: int | None = None) -> tuple[int, str]:
    """Model evaluations one explanation of an instance costs by ``method`` with ``params`` (its
    settings in effect), and how that was counted; a tabular model's with ``n_features`` (None: one)
    and a background of at most ``n_rows`` (None: not known)."""
    if method == "shap" and tabular(task):  # permutation SHAP over the background: a walk adds each feature
        d, said = features_counted(n_features)
        m = params["background_size"] if n_rows is None else min(params["background_size"], n_rows)
        background = f"background_size {m}" + (f" (the data's rows, of {params['background_size']})"
                                               if m < params["background_size"] else "")
        return 2 * params["permutations"] * d * m, f"shap 2 x permutations {params['permutations']} x {said} x {background}"
    for key in ("num_samples", "max_evals", "n_steps"):
        if key in params:
            return params[key], f"{method} {key} {params[key]}"
    return 1, f"{method} 1"


def explainers_of(check: str, params: Any, task: str) -> list[str]:
    """The explanation methods ``check`` runs on ``task`` with ``params`` (``Check.explainers``)."""
    from auditor.checks import CHECK_REGISTRY

    return CHECK_REGISTRY[check].explainers(params, task)


def estimate(check: str, params: Any, task: str, explainers: dict[str, dict[str, Any]],
             dataset_rows: int | None, n_features: int | None = None, n_rows: int | None = None) -> tuple[int, list[str]]:
    """A check's estimated model evaluations on ``task`` and each term as said (``n_instances 12 x
    explained 1664 (...) = ...``). ``explainers``: the policy's settings for the task (``explainers_for``);
    ``n_features``: a tabular model's input features where a card or dataset says them (None: one is
    counted, and the terms say so); ``n_rows``: the evaluation rows where the data are read (a parameter
    counting rows, or partial dependence's features, is at most what the data hold, as a run takes it)."""
    total, terms = _terms(check, params, task, explainers, dataset_rows, n_features, n_rows)
    return total, [said for _, _, said in terms]


def _terms(check: str, params: Any, task: str, explainers: dict[str, dict[str, Any]], dataset_rows: int | None,
           n_features: int | None = None, n_rows: int | None = None) -> tuple[int, list[tuple[int, tuple[str, ...], str]]]:
    from auditor.explain import EXPLAINERS

    costs = []
    for m in explainers_of(check, params, task):
        try:
            settings = EXPLAINERS[task][m].Params.model_validate(explainers.get(m) or {}).model_dump()
        except ValidationError:  # a shared explainers: entry another task's variant takes (max_evals for text
            continue  # SHAP): this task's explainer cannot run with it and evaluates nothing here
        costs.append(explanation_cost(task, m, settings, n_features, n_rows))
    factors: dict[str, tuple[int, str]] = {
        "explained": (sum(n for n, _ in costs), " + ".join(said for _, said in costs) or "no explainer"),
        "variants": (len(getattr(params, "variants", []) or []) + 1, "the prompt and its variants"),
        "seed_runs": (2 if getattr(params, "seed_stability", False) else 1, "seed_stability"),
    }
    if check == "explanation_faithfulness":
        # n_steps none: one curve point per feature (a tabular model's, where known) or bin (the bins' count
        # stands in for a text's words, and for features not known yet)
        bins = len(params.bins)
        per_feature = not params.n_steps and tabular(task) and n_features is not None
        steps = params.n_steps or (n_features if per_feature else bins)
        points = 2 * steps + 2 * bins + (params.loo_positions or 0) + params.correlation_runs
        factors["rankings"] = (len(costs) + params.control_orders, "explainers + control_orders")
        factors["per_ranking"] = (points, "2 x curve points + 2 x bins + loo_positions + correlation_runs"
                                  + (f"; curve points: the data's {n_features:,} features" if per_feature else ""))
    total, terms = 0, []
    for term in FORMULAS.get(check, []):
        values = []
        for name in term:
            if name == "features":  # a tabular model's input features; a text model's terms do not count them
                if tabular(task):
                    values.append(features_counted(n_features))
                continue
            if name in factors:
                n, how = factors[name]
                values.append((n, f"{name} {n:,}" + (f" ({how})" if name not in ("variants", "seed_runs") else "")))
                continue
            value = getattr(params, name)
            if value is None and name == "max_rows":
                value = dataset_rows if n_rows is None else n_rows
            if value is None:
                break  # every row of data not read yet, or a parameter derived from the data
            if name in ROW_FACTORS:
                values.append(at_most(name, int(value), n_rows, "rows"))
            elif name == "n_features" and tabular(task):  # partial dependence's top features: at most the model's
                values.append(at_most(name, int(value), n_features, "features"))
            else:
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


def located(params_at: dict[str, str], last: str, check: str, p: Any, task: str, terms: list, named_raw: dict | None) -> str:
    """Where a check whose estimate on ``task`` is over a limit is said: the largest parameter of its
    largest term (``terms`` as :func:`_terms` gives them) that the policy set, one the named file set
    first (``params_at``: parameter -> the entry that set it, ``checks[2]`` in the named file), else the
    explainer settings the named file (``named_raw``) set where that term counts an explanation's
    evaluations, else one a policy it extends set, else the check's ``last`` entry."""
    _, largest, _ = max(terms)
    # the parameter of the largest term the policy set, the largest first (none: every row)
    set_here = sorted((n for n in largest if n in params_at), key=lambda n: math.inf if getattr(p, n) is None
                      else getattr(p, n))
    mine = [n for n in set_here if params_at[n].startswith("checks[")]  # the named file's: no file prefix
    setting = "explained" in largest and _named_files_explainer(named_raw, task, explainers_of(check, p, task))
    return (f"{params_at[mine[-1]]}.params.{mine[-1]}" if mine else setting if setting else
            f"{params_at[set_here[-1]]}.params.{set_here[-1]}" if set_here else last)


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
        where = located(entry.params_at, entry.last, check, p, task, terms, named_raw)
        named = f"check {entry.check_id!r}" + (f" ({check})" if entry.check_id != check else "")
        said = " + ".join(said for _, _, said in terms)
        problems.append(Problem(where, (
            f"{named} asks for about {total:,} model evaluations on {task} models, above the limit of "
            f"{MAX_EVALUATIONS:,} per check: {said}; lower the parameters that multiply (or the explainers' budgets)")))
    return problems


def feature_problems(policy, plan: list, task: str, n_features: int | None, n_rows: int | None, site,
                     named_raw: Callable[[], dict | None]) -> list:
    """A check of ``plan`` (the checks that run on a model of ``task``) whose estimate exceeds
    :data:`MAX_TABULAR_EVALUATIONS` once a tabular model's ``n_features`` (the card's or dataset's) are counted:
    the policy read alone counted one, so a policy valid on its own may ask too much of these data.
    With the dataset's ``n_rows``, a parameter counting rows is at most them (a short, wide dataset is
    not refused for rows it does not have). Located as :func:`compute_problems` locates its problems, given
    ``site(spec)`` (the check's ``CheckSite``: where its entry and parameters were written, in the named
    file or one it extends) and ``named_raw()``, the named file's raw mapping (read only where a check is
    over the limit). None for a text model, or where the features are not known."""
    from auditor.errors import Problem

    if not tabular(task) or n_features is None:
        return []
    problems = []
    for planned in plan:
        if planned.skip_reason:
            continue
        check, check_id = planned.spec.check, planned.spec.check_id
        total, terms = _terms(check, planned.params, task, policy.explainers_for(task), policy.dataset.max_rows,
                              n_features, n_rows)
        if total <= MAX_TABULAR_EVALUATIONS:
            continue
        named = f"check {check_id!r}" + (f" ({check})" if check_id != check else "")
        said = " + ".join(said for _, _, said in terms)
        at = site(planned.spec)
        where = located(dict(at.params_at), at.last, check, planned.params, task, terms, named_raw())
        problems.append(Problem(where, (
            f"{named} asks for about {total:,} model evaluations on this {task} model's {n_features:,} features, above "
            f"the limit of {MAX_TABULAR_EVALUATIONS:,} rows through a tabular model per check: {said}; lower the "
            "parameters that multiply (or the explainers' budgets), or audit fewer features")))
    return problems
