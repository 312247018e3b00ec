"""Fixtures for the workspace suite: the history suite's three tiny runs, copied into a served
output folder with three accounts (viewer, reviewer, approver) and a registered signing key."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from auditor.records.accounts import add_user
from auditor.records.registry import open_registry
from auditor.records.signatures import ENV_KEYS_DIR, new_key
from history.conftest import history  # noqa: F401,E402 - the session fixture: three audits of the tiny model (tests/ is on sys.path)

PASSWORD = "correct horse battery"
USERS = {"vera": "viewer", "rita": "reviewer", "alice": "approver"}


def make_workspace(history, root: Path) -> SimpleNamespace:
    """A writable output folder with the accounts and a key ``web`` (private key under root/keys)."""
    out = root / "out"
    shutil.copytree(history.out, out)
    (out / "audits.sqlite").unlink(missing_ok=True)
    keys = root / "keys"
    with open_registry(out) as registry:
        for name, role in USERS.items():
            add_user(registry, name, role, PASSWORD)
        new_key(registry, "web", keys)
    return SimpleNamespace(out=out, keys=keys, model=history.model_dir.name, root=root)


@pytest.fixture(scope="module")
def workspace(history, tmp_path_factory, request):  # noqa: F811
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("workspace")
    mp.setenv(ENV_KEYS_DIR, str(root / "keys"))
    request.addfinalizer(mp.undo)
    return make_workspace(history, root)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(workspace):
    """`auditor serve` on a free port, in a thread, for the module."""
    import uvicorn

    from auditor.web.app import create_app

    app = create_app(workspace.out, key="web")
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start within 10 s")
        time.sleep(0.02)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}", port=port, app=app, **vars(workspace))
    srv.should_exit = True
    thread.join(10)
