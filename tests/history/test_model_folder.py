"""verify names a run that lies in another folder than its model's (the model's folder renamed, or
the run moved into another model's folder): it verified OK, though the registry, `due` and the model's
next audit look for the model's runs in its own folder. A run copied alone to a reviewer may lie
anywhere: said as not checked, exit 0."""

from __future__ import annotations

import shutil

from auditor.records.verify import verify_run

from .helpers import flat, invoke


def test_a_renamed_model_folder_is_named(out_copy):
    (out_copy / "tiny-model").rename(out_copy / "approved-model")
    run = out_copy / "approved-model" / "v0002"
    res = invoke("verify", run)
    assert res.exit_code == 1, res.output
    said = flat(res.output)
    assert "ALTERED" in said
    assert ("..: mismatch — this is a run of model 'tiny-model', whose runs auditor keeps in the folder tiny-model/, "
            "but it lies in approved-model/: the model's folder was renamed, or the run moved there") in said, said
    (out_copy / "approved-model").rename(out_copy / "tiny-model")
    assert invoke("verify", out_copy / "tiny-model" / "v0002").exit_code == 0


def test_a_run_copied_alone_may_lie_in_any_folder(history, tmp_path):
    copy = tmp_path / "sent-to-review" / "v0001"
    shutil.copytree(history.paths[0], copy)
    checked = verify_run(copy)
    assert checked.ok, checked.findings
    assert checked.unchecked == ["its model's folder: it lies in sent-to-review/, not in tiny-model/ where the runs of "
                                 "model 'tiny-model' are kept, alone (a copy of one run)"]
