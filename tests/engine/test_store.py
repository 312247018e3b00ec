"""Versioned run directories: atomic, never overwritten, never outside the output folder."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from auditor.records.store import file_or_dir_sha256, manifest, model_dir, slugify, versions, write_run


def files(text: str):
    return lambda label: {"result.json": f'{{"v": "{label}", "text": "{text}"}}'.encode(), "evidence/a.csv": b"a\n",
                          "manifest.json": b"{}"}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_versions_count_up_and_nothing_is_overwritten(tmp_path):
    first = write_run(tmp_path, "m", files("one"))
    second = write_run(tmp_path, "m", files("two"))
    assert (first.name, second.name) == ("v0001", "v0002")
    assert first.parent == second.parent == tmp_path.resolve() / "m"
    assert json.loads((first / "result.json").read_text()) == {"v": "v0001", "text": "one"}
    assert json.loads((second / "result.json").read_text()) == {"v": "v0002", "text": "two"}
    assert (second / "evidence" / "a.csv").read_bytes() == b"a\n"
    assert versions(first.parent) == [1, 2]
    assert sorted(p.name for p in first.parent.iterdir()) == ["v0001", "v0002"]  # no temp dir left behind


def test_a_version_taken_by_another_writer_is_skipped(tmp_path):
    folder = tmp_path / "m"
    labels = []

    def build(label):
        labels.append(label)
        if len(labels) == 1:  # another writer finishes v0001 while we are writing it
            (folder / label).mkdir()
            (folder / label / "result.json").write_text("theirs")
        return {"result.json": f"ours {label}".encode()}

    path = write_run(tmp_path, "m", build)
    assert labels == ["v0001", "v0002"]
    assert path.name == "v0002"
    assert (folder / "v0001" / "result.json").read_text() == "theirs"
    assert (path / "result.json").read_text() == "ours v0002"


def test_a_file_or_a_link_named_as_a_version_is_refused_and_left_alone(tmp_path):
    """A regular file v0002 and a broken link v0003 in the model's folder: once passed over (the run
    written as v0004), the new run was chained to a v0003 it could not hash, so it never verified and
    could never be signed off. Refused before the build now, naming the entry; nothing is touched."""
    from auditor.records.store import OutputPathError

    first = write_run(tmp_path, "m", files("one"))
    folder = first.parent
    (folder / "v0002").write_text("not a run")
    os.symlink(tmp_path / "nowhere", folder / "v0003")
    labels = []

    def build(label):
        labels.append(label)
        return files("two")(label)

    with pytest.raises(OutputPathError, match="v0003 is named like a version but is not a folder"):
        write_run(tmp_path, "m", build)
    assert labels == []
    assert (folder / "v0002").read_text() == "not a run" and os.readlink(folder / "v0003") == str(tmp_path / "nowhere")
    assert versions(folder) == [1]  # the runs listed are the folders


def test_a_failing_build_leaves_nothing(tmp_path):
    def build(label):
        raise RuntimeError("rendering failed")

    with pytest.raises(RuntimeError, match="rendering failed"):
        write_run(tmp_path, "m", build)
    assert not (tmp_path / "m").exists()  # the model's folder it made is gone too


def _h(name: str) -> str:
    import hashlib

    return hashlib.sha256(name.encode()).hexdigest()[:8]


@pytest.mark.parametrize("name, slug", [
    ("credit-scoring-gbm", "credit-scoring-gbm"),  # a safe name is its own folder
    ("../../x", f"x-{_h('../../x')}"),
    ("..", f"model-{_h('..')}"),
    ("", f"model-{_h('')}"),
    ("/etc/passwd", f"etc-passwd-{_h('/etc/passwd')}"),
    ("credit scoring: v2 (GBM)", f"credit-scoring-v2-GBM-{_h('credit scoring: v2 (GBM)')}"),
    ("a/../b", f"a-.-b-{_h('a/../b')}"),
    ("...hidden", f"hidden-{_h('...hidden')}"),
    ("x" * 100, "x" * 71 + f"-{_h('x' * 100)}"),
    ("audits.sqlite", f"audits.sqlite-{_h('audits.sqlite')}"),  # the registry's file beside the model folders
    ("AUDITS.SQLITE-journal", f"AUDITS.SQLITE-journal-{_h('AUDITS.SQLITE-journal')}"),
])
def test_slugify(name, slug):
    assert slugify(name) == slug
    assert len(slug) <= 80


@pytest.mark.parametrize("name", ["../../x", "..", "/abs/path", "a/../../b", "~/x"])
def test_model_dir_stays_inside_the_output_folder(tmp_path, name):
    out = tmp_path / "out"
    target = model_dir(out, name)
    assert target.parent == out.resolve()
    path = write_run(out, name, files("x"))
    assert path.parent.parent == out.resolve()
    assert not (tmp_path / "x").exists()


def test_stale_temp_dir_is_removed_and_never_a_version(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    stale = folder / f".tmp-{dead_pid()}-0123456789ab"
    stale.mkdir()
    (stale / "result.json").write_text("half-written")
    alive = folder / f".tmp-{os.getppid()}-abcdef012345"  # a live writer's temp dir is left alone
    alive.mkdir()
    assert versions(folder) == []
    path = write_run(tmp_path, "m", files("x"))
    assert path.name == "v0001"
    assert not stale.exists()
    assert alive.exists()
    assert versions(folder) == [1]



def test_a_temp_dir_of_another_machine_or_container_is_left_to_its_writer(tmp_path):
    """A shared output folder (CI runners of several machines or containers on one volume): the other
    writer's process id means nothing here. Its staging folder was removed as a dead process's while it
    wrote into it, and it made the folder again for its next file and published a version that lacked
    the files written before (its result.json). Now only this machine's and PID namespace's are checked
    by process id; another's is removed once a day old."""
    import time

    from auditor.records.atomic import process_space, temp_name

    folder = tmp_path / "m"
    folder.mkdir()
    mine = temp_name(folder)
    assert mine.name.startswith(f".tmp-{os.getpid()}-{process_space()}-")
    other = "0123abcd" if process_space() != "0123abcd" else "abcd0123"
    writing = folder / f".tmp-{dead_pid()}-{other}-0123456789ab"  # alive on its own machine
    writing.mkdir()
    (writing / "result.json").write_text("{}")
    forgotten = folder / f".tmp-{dead_pid()}-{other}-abcdef012345"  # a killed writer's, two days ago
    forgotten.mkdir()
    os.utime(forgotten, (time.time() - 2 * 86_400,) * 2)
    dead_here = folder / f".tmp-{dead_pid()}-{process_space()}-0123456789ab"
    dead_here.mkdir()
    assert write_run(tmp_path, "m", files("x")).name == "v0001"
    assert writing.exists() and (writing / "result.json").exists()
    assert not forgotten.exists() and not dead_here.exists()

def test_manifest_hashes(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("p")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    body = json.loads(manifest({"b.txt": b"bee", "a.txt": b"ay"}, {"policy": policy, "model": model, "none": None},
                               {"numpy": "1"}, {"run_id": "r"}))
    assert body["files"] == {"a.txt": hashlib.sha256(b"ay").hexdigest(), "b.txt": hashlib.sha256(b"bee").hexdigest()}
    assert body["inputs"]["policy"] == {"path": str(policy), "sha256": hashlib.sha256(b"p").hexdigest()}
    assert body["inputs"]["model"]["sha256"] == file_or_dir_sha256(model)
    assert "none" not in body["inputs"]
    assert (body["libraries"], body["run_id"]) == ({"numpy": "1"}, "r")
    # a directory's hash changes with any of its files
    before = file_or_dir_sha256(model)
    (model / "config.json").write_text("{ }")
    assert file_or_dir_sha256(model) != before


@pytest.mark.parametrize("failure", [KeyboardInterrupt, ValueError])
def test_a_run_that_stores_nothing_leaves_no_folder_it_made(tmp_path, failure):
    """A SIGTERM while the report was being built left an empty OUT/ and OUT/<model>/ behind (README:
    nothing partial is written); a folder that was there before stays."""
    def build(label):
        raise failure("stopped")

    with pytest.raises(failure):
        write_run(tmp_path / "out" / "nested", "m", build)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()
    with pytest.raises(failure):
        write_run(tmp_path / "kept", "m", build)
    assert (tmp_path / "kept").is_dir() and list((tmp_path / "kept").iterdir()) == []
