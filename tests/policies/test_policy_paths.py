"""A policy or waivers file given by a relative path is recorded by its absolute path: the run's
result.json, manifest and report named `../../../work/…/policy.yaml`, relative to wherever the
command had run, which names nothing to a reviewer reading the sealed run later."""

from __future__ import annotations


def test_relative_policy_and_waivers_paths_are_recorded_absolute(tmp_path, monkeypatch):
    from auditor.policy.catalog import resolve_policy_path
    from auditor.policy.waivers import load_waivers_file

    (tmp_path / "p.yaml").write_text("x: 1\n", encoding="utf-8")
    (tmp_path / "w.yaml").write_text("waivers: []\n", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert resolve_policy_path("../p.yaml") == tmp_path / "p.yaml"
    assert load_waivers_file("../w.yaml").source == str(tmp_path / "w.yaml")
