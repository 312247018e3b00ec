"""An output folder that cannot take the run (issue 16, item 6): found before the model loads, said
as what it is (not writable, disk full), exit 2; a run that fails while being written leaves no
partial version and no truncated salvage, and earlier runs are untouched."""

from __future__ import annotations

import errno
import json
from collections import namedtuple
from pathlib import Path

import pytest

import auditor.engine.audit
import auditor.records.store


@pytest.fixture
def model_never_loads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the output folder was checked")

    monkeypatch.setattr(auditor.engine.audit, "load_adapter", refuse)


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def test_an_unwritable_output_folder_is_found_before_the_model_loads(cli, tmp_path, artefacts, card_writer,
                                                                     card_only_policy, monkeypatch, model_never_loads):
    import tempfile

    out = tmp_path / "out"
    out.mkdir()

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == out:
            raise PermissionError(errno.EROFS, "Read-only file system")
        return real_mkstemp(*args, dir=dir, **kwargs)

    real_mkstemp = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    res = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out)
    assert res.code == 2, res.text
    assert f"cannot write the run under {out.resolve() / 'tiny-model'}: {out.resolve()} is not writable (Read-only file system)" in res.text
    assert list(out.iterdir()) == []


def test_an_output_path_through_a_file_is_refused_before_the_model_loads(cli, tmp_path, artefacts, card_writer,
                                                                        card_only_policy, model_never_loads):
    (tmp_path / "file").write_text("x")
    res = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, tmp_path / "file" / "out")
    assert res.code == 2 and "is not a folder" in res.text, res.text


def test_a_full_disk_is_found_before_the_model_loads(cli, tmp_path, artefacts, card_writer, card_only_policy,
                                                     monkeypatch, model_never_loads):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(auditor.records.store.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 4096, 4096))
    res = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, tmp_path / "out")
    assert res.code == 2 and "disk full: 4,096 bytes free" in res.text, res.text
    assert not (tmp_path / "out").exists()


def _disk_fills_up(monkeypatch, under: Path, *, salvage_too: bool):
    """Every write of a run file under ``under`` fails with ENOSPC half-way (a truncated file is
    left, as a real full disk does); salvage writes too when ``salvage_too``."""
    real = Path.write_bytes

    def write_bytes(self, data):
        inside = str(self).startswith(str(under.resolve()))
        # The run writes result.json first, then report.html ...; the salvage writes only result.json.
        if inside and (salvage_too or self.name != "result.json") and len(data) > 64:
            real(self, data[:64])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def test_a_disk_filling_up_while_the_run_is_written(cli, tmp_path, artefacts, card_writer, card_only_policy, stub_pdf,
                                                    monkeypatch):
    card = card_writer(tmp_path / "card")
    out = tmp_path / "out"
    assert cli.run(card_only_policy, card, artefacts.csv, out).code == 0
    before = files_of(out / "tiny-model" / "v0001")
    _disk_fills_up(monkeypatch, out, salvage_too=True)
    res = cli.run(card_only_policy, card, artefacts.csv, out)
    assert res.code == 2, res.text
    assert "disk full while writing" in res.text and "could not be kept either (nothing partial was left)" in res.text
    assert sorted(p.name for p in (out / "tiny-model").iterdir()) == ["v0001"]  # no v0002, no temporary, no salvage
    assert files_of(out / "tiny-model" / "v0001") == before



def test_a_full_disk_on_a_models_first_run_leaves_no_empty_model_folder(cli, tmp_path, artefacts, card_writer,
                                                                         card_only_policy, stub_pdf, monkeypatch):
    """The run and its salvage both fail: the salvage made the model's folder again after the run had
    removed it, and an empty --out/<model>/ stayed behind."""
    out = tmp_path / "out"
    _disk_fills_up(monkeypatch, out, salvage_too=True)
    res = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out)
    assert res.code == 2 and "could not be kept either (nothing partial was left)" in res.text, res.text
    assert not (out / "tiny-model").exists()

def test_when_only_the_run_fails_to_write_the_salvage_is_whole(cli, tmp_path, artefacts, card_writer, card_only_policy,
                                                               stub_pdf, monkeypatch):
    out = tmp_path / "out"
    _disk_fills_up(monkeypatch, out, salvage_too=False)
    res = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out)
    assert res.code == 2 and "disk full while writing" in res.text, res.text
    (kept,) = [p for p in (out / "tiny-model").iterdir()]
    assert kept.name.startswith(".unrendered-") and kept.name in res.text and "auditor render" in res.text
    text = " ".join(res.text.split())
    assert "no version was written" in text and "nothing was written" not in text, text  # then: "result.json was kept"
    assert [p.name for p in kept.iterdir()] == ["result.json"]
    result = json.loads((kept / "result.json").read_text())  # whole, valid JSON
    assert result["model"]["name"] == "tiny-model"
    assert result["version"] == ""  # not "v0001": that number was never stored (the next run takes it)
    monkeypatch.undo()
    stub = lambda html, **kw: b"%PDF-1.7 stub\n"  # noqa: E731
    monkeypatch.setattr(auditor.engine.audit, "html_to_pdf", stub)
    # rendered in place on a disk still full: exit 5 with report.html replaced and no report.pdf; now
    # exit 2 and nothing replaced (every file is written in full before any is renamed into place)
    _disk_fills_up(monkeypatch, out, salvage_too=True)
    res = cli("render", kept)
    assert res.code == 2 and "disk full while writing" in res.text, res.text
    assert sorted(p.name for p in kept.iterdir()) == ["result.json"]
    monkeypatch.setattr(Path, "write_bytes", _real_write_bytes)
    assert cli("render", kept).code == 0 and (kept / "report.html").is_file()  # as the note says
    assert cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out).code == 0
    assert json.loads((out / "tiny-model" / "v0001" / "result.json").read_text())["run_id"] != result["run_id"]


def test_a_disk_filling_up_while_a_sign_off_is_written_leaves_no_part_of_it(cli, tmp_path, artefacts, card_writer,
                                                                             card_only_policy, stub_pdf, monkeypatch):
    """The signed report's temporary file, cut short by the full disk, was left in signoffs/v0001/ (a hidden
    .tmp-* file no later command removes), though the sign-off said nothing was recorded."""
    out = tmp_path / "out"
    assert cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out).code == 0
    signoffs = out / "tiny-model" / "signoffs"
    _disk_fills_up(monkeypatch, signoffs, salvage_too=True)
    res = cli("sign-off", out / "tiny-model" / "v0001", "--reviewer", "R", "--decision", "reject", "--comment", "no")
    assert res.code == 2 and "No space left on device; nothing was recorded" in res.text, res.text
    assert [p for p in signoffs.rglob("*") if p.is_file() and p.stat().st_size] == []


_real_write_bytes = Path.write_bytes


def test_a_render_whose_default_name_another_render_took_takes_the_next(cli, tmp_path, artefacts, card_writer,
                                                                        card_only_policy, stub_pdf, monkeypatch):
    """Two `auditor render` of one version at once: both picked renders/v0001-1, and the second ended
    in exit 2 "Directory not empty"; now it takes v0001-2. A render killed half-way leaves a
    temporary folder under renders/, which the next render removes."""
    import os

    assert cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, tmp_path / "out").code == 0
    run = tmp_path / "out" / "tiny-model" / "v0001"
    renders = run.parent / "renders"
    (renders / f".tmp-{2**22 + 7}-0123456789ab").mkdir(parents=True)  # a dead process's
    real = auditor.engine.audit.publish_folder

    def raced(staged, final):
        if final.name == f"{run.name}-1" and not final.exists():
            final.mkdir()
            (final / "report.html").write_text("the other render's")
        return real(staged, final)

    monkeypatch.setattr(auditor.engine.audit, "publish_folder", raced)
    written = auditor.rerender(run)
    assert written["report.html"].parent == renders / f"{run.name}-2"
    assert (renders / f"{run.name}-1" / "report.html").read_text() == "the other render's"
    assert sorted(os.listdir(renders)) == [f"{run.name}-1", f"{run.name}-2"]


def _rename_fails(monkeypatch, final: Path, code: int) -> None:
    """Renaming a staged folder to ``final`` fails with ``code`` (EBUSY: ``final`` is a mount point)."""
    import os

    real = os.rename

    def rename(src, dst, *args, **kwargs):
        if Path(dst) == final:
            raise OSError(code, os.strerror(code), str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", rename)


def test_a_render_to_a_mount_point_says_why_it_failed_not_that_the_folder_appeared(cli, tmp_path, artefacts,
                                                                                   card_writer, card_only_policy,
                                                                                   stub_pdf, monkeypatch):
    """Every error renaming the reports into place read as "appeared while the reports were rendered"
    when the target existed, as an empty --to folder that is a mount point does (EBUSY)."""
    assert cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, tmp_path / "out").code == 0
    mount = tmp_path / "mnt"
    mount.mkdir()
    _rename_fails(monkeypatch, mount, errno.EBUSY)
    res = cli("render", tmp_path / "out" / "tiny-model" / "v0001", "--to", mount)
    text = " ".join(res.text.split())
    assert res.code == 2 and f"cannot write {mount}: Device or resource busy; nothing was written" in text, text
    assert "appeared" not in text and list(mount.iterdir()) == []


def test_a_version_that_cannot_be_renamed_into_place_is_an_output_error_with_the_result_kept(
        cli, tmp_path, artefacts, card_writer, card_only_policy, stub_pdf, monkeypatch):
    """A rename error other than a taken name (EMLINK: the folder holds as many folders as it can)
    was raised as it was: exit 5."""
    out = tmp_path / "out"
    _rename_fails(monkeypatch, out / "tiny-model" / "v0001", errno.EMLINK)
    res = cli.run(card_only_policy, card_writer(tmp_path / "card"), artefacts.csv, out)
    text = " ".join(res.text.split())
    assert res.code == 2, text
    assert f"cannot write {out / 'tiny-model'}: Too many links; no version was written" in text, text
    (kept,) = (out / "tiny-model").iterdir()
    assert kept.name.startswith(".unrendered-") and f"`auditor render {kept}`" in text


def test_a_registry_held_by_another_process_never_lets_a_number_be_given_twice(cli, tmp_path, artefacts, card_writer,
                                                                             card_only_policy, stub_pdf, monkeypatch):
    """v0002 deleted (the registry remembers it), then a run while another process held the registry:
    the run was numbered from the folders alone and stored as v0002 again, which `auditor verify`
    then called altered. Now it waits, then keeps its result.json outside the versions and exits 2;
    once the registry is free the next run is v0003."""
    import shutil
    import sqlite3

    card = card_writer(tmp_path / "card")
    out = tmp_path / "out"
    for _ in range(2):
        assert cli.run(card_only_policy, card, artefacts.csv, out).code == 0
    shutil.rmtree(out / "tiny-model" / "v0002")
    monkeypatch.setattr(auditor.engine.audit, "REGISTRY_WAIT_S", 0.5)
    holder = sqlite3.connect(out / "audits.sqlite", timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        res = cli.run(card_only_policy, card, artefacts.csv, out)
    finally:
        holder.rollback()
        holder.close()
    assert res.code == 2, res.text
    assert "in use by another process" in res.text and "no version was written" in res.text, res.text
    kept = [p.name for p in (out / "tiny-model").iterdir()]
    assert "v0002" not in kept and any(name.startswith(".unrendered-") for name in kept), kept
    res = cli.run(card_only_policy, card, artefacts.csv, out)
    assert res.code == 0 and (out / "tiny-model" / "v0003").is_dir() and not (out / "tiny-model" / "v0002").exists()
