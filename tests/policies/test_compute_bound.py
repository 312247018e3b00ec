"""A check's parameters, each within its own bound, may multiply to an absurd number of model passes:
the product (estimated model evaluations, auditor/policy/compute.py) is bounded per check, a located
policy error (exit 3) before any model loads."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from auditor.checks import CHECK_REGISTRY
from auditor.cli import app
from auditor.errors import PolicyError
from auditor.policy import load_policy
from auditor.policy.catalog import builtin_policies
from auditor.policy.compute import FORMULAS, MAX_EVALUATIONS, estimate


def _problems(path) -> dict[str, str]:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    return {p.location: p.message for p in info.value.problems}


def _largest(name: str, n_features: int | None = None) -> tuple[int, str, str]:
    loaded = load_policy(name)
    found = []
    for c, p in zip(loaded.policy.checks, loaded.params):
        for task in CHECK_REGISTRY[c.check].applicable_tasks():
            if not c.tasks or task in c.tasks:
                total, _ = estimate(c.check, p, task, loaded.policy.explainers_for(task), loaded.policy.dataset.max_rows,
                                    n_features)
                found.append((total, c.check_id, task))
    return max(found)


def test_every_check_that_runs_the_model_per_instance_has_a_formula():
    assert set(FORMULAS) == set(CHECK_REGISTRY) - {"performance", "card_completeness"}


def test_the_limit_leaves_the_builtin_policies_ample_headroom():
    """The comment above MAX_EVALUATIONS says where it came from: keep the two in step."""
    largest = {name: _largest(name) for name in builtin_policies()}
    assert max(largest.values())[0] == 66_000
    assert largest["text-default"][:2] == (15_300, "explanation_stability")
    assert MAX_EVALUATIONS == 10_000_000 and MAX_EVALUATIONS >= 100 * max(largest.values())[0]
    # the credit example's 13 features counted; 167 take default's permutation importance and SHAP over
    assert max(_largest(name, 13) for name in builtin_policies())[:2] == (780_000, "global_importance")
    assert _largest("default", 166)[0] <= MAX_EVALUATIONS < _largest("default", 167)[0] == 60_000 * 167


def test_a_product_beyond_the_limit_names_the_check_its_parameters_and_the_limit(tmp_path, yaml_writer, child_of):
    """n_instances 5000 (its bound is 10,000) and integrated gradients' 1024 points (its bound) were valid
    apiece: 41 million model passes."""
    child = yaml_writer(tmp_path, "child.yaml", child_of(
        "text-default", explainers={"integrated_gradients": {"n_steps": 1024}},
        checks=[{"id": "explanation_stability", "params": {"n_instances": 5000, "n_seeds": 5}}]))
    assert _problems(child) == {"checks[0].params.n_instances": (
        "check 'explanation_stability' asks for about 40,960,000 model evaluations on text-classification models, "
        "above the limit of 10,000,000 per check: n_instances 5,000 x explained 1,024 (integrated_gradients n_steps "
        "1024) x n_seeds 5 = 25,600,000 + n_instances 5,000 x explained 1,024 (integrated_gradients n_steps 1024) x "
        "n_perturbations 3 = 15,360,000; lower the parameters that multiply (or the explainers' budgets)")}
    res = CliRunner().invoke(app, ["validate", "--policy", str(child)])
    assert res.exit_code == 3 and "asks for about 40,960,000 model evaluations" in " ".join(res.output.split())
    within = yaml_writer(tmp_path, "within.yaml", child_of(
        "text-default", explainers={"integrated_gradients": {"n_steps": 1024}},
        checks=[{"id": "explanation_stability", "params": {"n_instances": 1000, "n_seeds": 5}}]))
    assert load_policy(within).params[7].n_instances == 1000  # 8,192,000: under the limit


def test_a_tabular_explainers_budget_counts_and_a_check_with_an_id_names_its_kind(tmp_path, policy_writer):
    policy = policy_writer(tmp_path, policy_writer.tiny(
        [{"check": "local_explanations", "id": "why", "params": {"n_instances": 10_000, "methods": ["shap"]}}],
        explainers={"shap": {"background_size": 1000}}))
    assert _problems(policy) == {"checks[0].params.n_instances": (
        "check 'why' (local_explanations) asks for about 20,000,000 model evaluations on tabular-classification "
        "models, above the limit of 10,000,000 per check: n_instances 10,000 x explained 2,000 (shap 2 x permutations 1 "
        "x features 1 (not known before a card or the data: one counted) x background_size 1000) = 20,000,000; lower the parameters that multiply (or the explainers' budgets)")}


def test_every_row_counts_the_policys_dataset_rows_where_it_has_them(tmp_path, policy_writer):
    """max_rows: null (every row) is the data's size, unknown when the policy is read, unless the policy
    caps it."""
    check = [{"check": "global_importance", "params": {"max_rows": None, "n_repeats": 5, "n_instances": 10}}]
    assert load_policy(policy_writer(tmp_path / "a", policy_writer.tiny(check))).params[0].max_rows is None
    capped = policy_writer(tmp_path / "b", policy_writer.tiny(check, dataset={"max_rows": 3_000_000}))
    assert list(_problems(capped)) == ["checks[0].params.max_rows"]
    assert ("n_repeats 5 x max_rows 3,000,000 x features 1 (not known before a card or the data: one counted) = "
            "15,000,000") in _problems(capped)["checks[0].params.max_rows"]


def test_a_run_is_refused_before_the_model_loads(tmp_path, policy_writer, card_writer, artefacts):
    policy = policy_writer(tmp_path, policy_writer.tiny(
        [{"check": "explanation_stability", "params": {"n_instances": 5000, "n_seeds": 20, "n_perturbations": 50}}],
        explainers={"lime": {"num_samples": 1000}}))
    res = CliRunner().invoke(app, ["run", "-q", "-p", str(policy), "-c", str(card_writer(tmp_path / "card")),
                                   "-d", str(artefacts.csv), "-o", str(tmp_path / "out")])
    assert res.exit_code == 3, res.output
    assert "checks[0].params.n_instances: check 'explanation_stability' asks for about " in " ".join(res.output.split())
    assert not (tmp_path / "out").exists()


def test_faithfulness_counts_every_ranking_and_control_orders_curves():
    """Each explainer's ranking and each random control order costs its curves, bins, leave-one-out
    positions and correlation subsets again."""
    params = CHECK_REGISTRY["explanation_faithfulness"].Params(
        explainers=["lime"], n_instances=10, n_steps=20, bins=[0.1, 0.5], loo_positions=8, correlation_runs=30,
        control_orders=3)
    total, terms = estimate("explanation_faithfulness", params, "text-classification", {"lime": {"num_samples": 100}},
                            None)
    assert terms == ["n_instances 10 x explained 100 (lime num_samples 100) = 1,000",
                     "n_instances 10 x rankings 4 (explainers + control_orders) x per_ranking 82 (2 x curve points + "
                     "2 x bins + loo_positions + correlation_runs) = 3,280"]
    assert total == 4_280


def test_a_shared_explainer_setting_only_another_task_takes_is_no_internal_error(tmp_path, yaml_writer, child_of):
    """``explainers: {shap: {max_evals: 800}}`` is valid (text SHAP takes it; validate accepts an explainers:
    entry one task's variant takes), and tabular SHAP rejects it: the estimate for tabular models had
    validated it and crashed validate with exit 5. Tabular SHAP evaluates nothing with it; text SHAP's
    800 evaluations are counted."""
    child = yaml_writer(tmp_path, "child.yaml", child_of("combined-default", explainers={"shap": {"max_evals": 800}}))
    loaded = load_policy(child)
    res = CliRunner().invoke(app, ["validate", "--policy", str(child)])
    assert res.exit_code == 0, res.output
    c = next(c for c in loaded.policy.checks if c.check_id == "text_explanation_faithfulness")
    p = loaded.params[loaded.policy.checks.index(c)]
    _, terms = estimate(c.check, p, "text-classification", loaded.policy.explainers_for("text-classification"), None)
    assert "shap max_evals 400" in terms[0]  # task_explainers' text SHAP replaces the shared entry
    c = next(c for c in loaded.policy.checks if c.check_id == "explanation_faithfulness")
    p = loaded.params[loaded.policy.checks.index(c)]
    _, terms = estimate(c.check, p, "tabular-classification", loaded.policy.explainers_for("tabular-classification"), None)
    assert "lime num_samples 125" in terms[0] and "shap" not in terms[0]


def test_a_child_raising_only_an_explainers_budget_is_told_at_its_own_setting(tmp_path, yaml_writer, child_of):
    """A child of the built-in default that raises only SHAP's budget takes global_importance (its mean
    |SHAP|, counted since its SHAP is), subgroup_fairness and explanation_clustering over the limit: the
    problems were located at default.yaml's n_instances, a file of the installation the child never
    touched, instead of the child's explainers.shap."""
    child = yaml_writer(tmp_path, "child.yaml", child_of(
        "default", explainers={"shap": {"background_size": 1000, "permutations": 50}}))
    with pytest.raises(PolicyError) as info:
        load_policy(child)
    assert [p.location for p in info.value.problems] == ["explainers.shap"] * 3
    assert "check 'global_importance' asks for about 10,050,000 model evaluations" in info.value.problems[0].message
    assert "check 'explanation_clustering' asks for about 20,000,400 model evaluations" in info.value.problems[2].message
    # the child's own factor of the largest term still names itself first
    both = yaml_writer(tmp_path, "both.yaml", child_of(
        "default", explainers={"shap": {"background_size": 1000, "permutations": 50}},
        checks=[{"id": "explanation_clustering", "params": {"n_instances": 150}}]))
    with pytest.raises(PolicyError) as info:
        load_policy(both)
    assert [p.location for p in info.value.problems] == ["explainers.shap", "explainers.shap",
                                                         "checks[0].params.n_instances"]


def test_a_shared_explainer_setting_a_tabular_model_cannot_take_refuses_its_run_before_the_model_loads(
        tmp_path, yaml_writer, child_of, artefacts, card_writer):
    """The same policy on a tabular card: every check explaining with SHAP would end in ERROR at run
    time (tabular SHAP has no max_evals), so ``validate --card`` and ``run`` refuse it (exit 3), located
    at the shared setting and saying where it belongs; nothing is written."""
    child = yaml_writer(tmp_path, "child.yaml", child_of("combined-default", explainers={"shap": {"max_evals": 800}}))
    card = card_writer(tmp_path / "card")
    res = CliRunner().invoke(app, ["validate", "--policy", str(child), "--card", str(card)])
    assert res.exit_code == 3, res.output
    assert "explainers.shap.max_evals: unknown key for tabular-classification models' shap" in res.output
    assert "task_explainers.<that task>.shap" in res.output
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", "--policy", str(child), "--card", str(card), "--data", str(artefacts.csv),
                                   "--out", str(out), "--jobs", "1"])
    assert res.exit_code == 3, res.output
    assert "explainers.shap.max_evals" in res.output and not out.exists()
    # the same setting under the text task's own block: the tabular run takes the shared SHAP as is
    fine = yaml_writer(tmp_path, "fine.yaml", child_of("combined-default", task_explainers={
        "text-classification": {"shap": {"max_evals": 800}}}))
    res = CliRunner().invoke(app, ["validate", "--policy", str(fine), "--card", str(card)])
    assert res.exit_code == 0, res.output


def test_the_explainers_a_check_runs_whatever_its_params_are_counted_and_their_settings_judged(
        tmp_path, policy_writer, card_writer):
    """global_importance ranks by SHAP and attention compares with integrated gradients, neither named
    in a ``methods`` list: their explanations were left out of the estimate ("no explainer"), and a
    shared SHAP setting tabular SHAP cannot take passed ``validate --card`` and ended global_importance
    in ERROR at run time."""
    gi = CHECK_REGISTRY["global_importance"].Params(n_instances=40, n_repeats=2, max_rows=100)
    total, terms = estimate("global_importance", gi, "tabular-classification",
                            {"shap": {"permutations": 3, "background_size": 10}}, None)
    assert terms[1] == ("n_instances 40 x explained 60 (shap 2 x permutations 3 x features 1 (not known before a card or "
                        "the data: one counted) x background_size 10) = 2,400")
    assert total == 2 * 100 + 2_400
    att = CHECK_REGISTRY["attention"].Params(n_instances=12)
    total, _ = estimate("attention", att, "text-classification", {"integrated_gradients": {"n_steps": 20}}, None)
    assert total == 12 * (20 + 1 + 1)  # IG's path, and one pass each for the two attention maps
    policy = policy_writer(tmp_path, policy_writer.tiny(
        checks=[{"check": "global_importance", "params": {"n_instances": 10, "n_repeats": 2}}],
        explainers={"shap": {"max_evals": 800}}))
    res = CliRunner().invoke(app, ["validate", "--policy", str(policy), "--card", str(card_writer(tmp_path / "card"))])
    assert res.exit_code == 3, res.output
    assert "explainers.shap.max_evals: unknown key for tabular-classification models' shap" in res.output


# --- a tabular model's features (counted where a card or the data say them) -------------------------------

def test_a_tabular_estimate_counts_the_features_it_is_given():
    """Known answers for k = 12 features: permutation importance shuffles each feature on every row
    (5 x 1,000 x 12 = 60,000) and permutation SHAP, for the mean |SHAP| ranking, walks each feature
    over its background (2 x 2 x 12 x 20 = 960 per instance: 10 x 960 = 9,600; its SHAP had been left
    out, "explained 0 (no explainer)"). Without a count one feature is counted, and the terms say so;
    LIME's samples do not grow with the features."""
    params = CHECK_REGISTRY["global_importance"].Params(n_repeats=5, max_rows=1000, n_instances=10)
    explainers = {"shap": {"background_size": 20, "permutations": 2}}
    total, terms = estimate("global_importance", params, "tabular-classification", explainers, None, 12)
    assert terms == ["n_repeats 5 x max_rows 1,000 x features 12 (the data's) = 60,000",
                     "n_instances 10 x explained 960 (shap 2 x permutations 2 x features 12 (the data's) x "
                     "background_size 20) = 9,600"]
    assert total == 5 * 1000 * 12 + 10 * 2 * 2 * 12 * 20 == 69_600
    total, terms = estimate("global_importance", params, "tabular-classification", explainers, None)
    assert total == 5 * 1000 + 10 * 2 * 2 * 20 == 5_800
    assert terms[0] == "n_repeats 5 x max_rows 1,000 x features 1 (not known before a card or the data: one counted) = 5,000"
    local = CHECK_REGISTRY["local_explanations"].Params(n_instances=10, methods=["lime"])
    assert estimate("local_explanations", local, "tabular-classification", {"lime": {"num_samples": 125}}, None, 12) \
        == (1_250, ["n_instances 10 x explained 125 (lime num_samples 125) = 1,250"])
    # a text model's terms have no features to count
    text = CHECK_REGISTRY["explanation_clustering"].Params(explainer="integrated_gradients", n_instances=10,
                                                           control_orders=4)
    assert estimate("explanation_clustering", text, "text-classification", {}, None, 12) == \
        estimate("explanation_clustering", text, "text-classification", {}, None)


def test_counterfactuals_and_faithfulness_count_a_move_and_a_curve_point_per_feature():
    """The counterfactual search tries each feature at each candidate value per step (50 x 3 x 20 x 7);
    tabular faithfulness with n_steps none has a deletion and an insertion curve point per feature."""
    cf = CHECK_REGISTRY["counterfactuals"].Params(n_instances=50, max_features_changed=3, n_values=20, refine_steps=12)
    total, terms = estimate("counterfactuals", cf, "tabular-regression", {}, None, 7)
    assert total == 50 * 3 * 20 * 7 + 50 * 12 == 21_600
    assert terms[0] == "n_instances 50 x max_features_changed 3 x n_values 20 x features 7 (the data's) = 21,000"
    faith = CHECK_REGISTRY["explanation_faithfulness"].Params(
        explainers=["lime"], n_instances=10, n_steps=None, bins=[0.1, 0.5], loo_positions=8, correlation_runs=30,
        control_orders=3)
    total, terms = estimate("explanation_faithfulness", faith, "tabular-classification", {"lime": {"num_samples": 100}},
                            None, 40)
    assert total == 10 * 100 + 10 * 4 * (2 * 40 + 2 * 2 + 8 + 30) == 5_880
    assert terms[1].endswith("loo_positions + correlation_runs; curve points: the data's 40 features) = 4,880")


def _wide(tmp_path, n_features: int):
    """An evaluation CSV of ``n_features`` numeric columns and a label, 100 rows."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(100, n_features)).round(2), columns=[f"f{i}" for i in range(n_features)])
    frame["label"] = np.where(rng.random(100) < 0.5, "yes", "no")
    path = tmp_path / f"wide{n_features}.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_dataset_wide_enough_to_pass_the_limit_is_refused_at_run_time(tmp_path, policy_writer, card_writer):
    """The counterfactual search of 100 rows, 50 changes and 200 values is 1,000,000 model evaluations
    per feature (plus 1,200 refining): valid on its own (one feature counted), and on 999 features
    (999,001,200); on 1,000 (1,000,001,200) above the limit of rows through a tabular model, only because
    of the features. validate with the data and run refuse it (exit 3) before the model loads, naming the
    count; nothing is written."""
    policy = policy_writer(tmp_path, policy_writer.tiny(
        [{"check": "counterfactuals", "params": {"n_instances": 100, "max_features_changed": 50, "n_values": 200}}]))
    card = card_writer(tmp_path / "card", artefact="linear", target="label", features=None, ignore_columns=None,
                       positive_class="yes")
    runner = CliRunner()
    res = runner.invoke(app, ["validate", "--policy", str(policy), "--card", str(card)])
    assert res.exit_code == 0, res.output  # the card lists no features: one counted
    res = runner.invoke(app, ["validate", "--policy", str(policy), "--card", str(card), "--data",
                              str(_wide(tmp_path, 999))])
    assert res.exit_code == 0, res.output
    wide = _wide(tmp_path, 1000)
    said = ("checks[0].params.n_values: check 'counterfactuals' asks for about 1,000,001,200 model evaluations on this "
            "tabular-classification model's 1,000 features, above the limit of 1,000,000,000 rows through a tabular "
            "model per check: n_instances 100 x max_features_changed 50 x n_values 200 x features 1,000 (the data's) "
            "= 1,000,000,000 + n_instances 100 x refine_steps 12 = 1,200; lower the parameters that multiply (or the "
            "explainers' budgets), or audit fewer features")
    res = runner.invoke(app, ["validate", "--policy", str(policy), "--card", str(card), "--data", str(wide)])
    assert res.exit_code == 3 and said in " ".join(res.output.split()), res.output
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", "-q", "--policy", str(policy), "--card", str(card), "--data", str(wide),
                              "--out", str(out), "--jobs", "1"])
    assert res.exit_code == 3 and said in " ".join(res.output.split()), res.output
    assert not out.exists()
    # a card that lists the 1,000 features is refused by validate --card alone
    listed = card_writer(tmp_path / "listed", artefact="linear", target="label", ignore_columns=None,
                         positive_class="yes", features=[{"name": f"f{i}", "type": "numeric"} for i in range(1000)])
    res = runner.invoke(app, ["validate", "--policy", str(policy), "--card", str(listed)])
    assert res.exit_code == 3 and said in " ".join(res.output.split()), res.output
    # default on 300 features: 18,000,000 at the 10,000 rows it would shuffle (a few seconds of a fitted
    # tabular model), 3,150,000 on these 100 rows; under 10,000,000 rows it had been refused from 167 features
    res = runner.invoke(app, ["validate", "--policy", "default", "--card", str(card), "--data", str(_wide(tmp_path, 300))])
    assert res.exit_code == 0, res.output
    listed = card_writer(tmp_path / "listed300", artefact="linear", target="label", ignore_columns=None,
                         positive_class="yes", features=[{"name": f"f{i}", "type": "numeric"} for i in range(300)])
    res = runner.invoke(app, ["validate", "--policy", "default", "--card", str(listed)])
    assert res.exit_code == 0, res.output


def test_on_the_data_a_parameter_counting_rows_is_at_most_the_rows_they_hold():
    """A run explains, shuffles and draws a background from at most the rows the data hold: default's
    global_importance on 300 features is 18,000,000 at its 10,000 rows, and 3,300,000 on a
    dataset of 200 rows (5 x 200 x 300 + 100 x 2 x 300 x 50), which is what that run costs. Partial
    dependence's top features are at most the model's."""
    loaded = load_policy("default")
    c = next(c for c in loaded.policy.checks if c.check == "global_importance")
    p = loaded.params[loaded.policy.checks.index(c)]
    explainers = loaded.policy.explainers_for("tabular-classification")
    assert estimate("global_importance", p, "tabular-classification", explainers, None, 300)[0] == 18_000_000
    total, terms = estimate("global_importance", p, "tabular-classification", explainers, None, 300, 200)
    assert total == 5 * 200 * 300 + 100 * 2 * 300 * 50 == 3_300_000
    assert terms[0] == "n_repeats 5 x max_rows 200 (the data's rows, of 10,000) x features 300 (the data's) = 300,000"
    _, terms = estimate("global_importance", p, "tabular-classification", explainers, None, 300, 40)
    assert terms[1] == ("n_instances 40 (the data's rows, of 100) x explained 24,000 (shap 2 x permutations 1 x "
                        "features 300 (the data's) x background_size 40 (the data's rows, of 50)) = 960,000")
    pd_params = CHECK_REGISTRY["partial_dependence"].Params(n_features=4, grid_resolution=20, n_ice=200, n_repeats=5,
                                                           max_rows=None)
    total, terms = estimate("partial_dependence", pd_params, "tabular-regression", {}, None, 3, 150)
    assert terms == ["n_features 3 (the data's features, of 4) x grid_resolution 20 x n_ice 150 (the data's rows, of "
                     "200) = 9,000", "n_repeats 5 x max_rows 150 x features 3 (the data's) = 2,250"]
