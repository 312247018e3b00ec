"""The workspace over HTTP without a browser (Starlette's test client): sessions, CSRF, roles, the
throttle, path validation, downloads. The browser suite (test_browser.py) walks the same paths in
Chromium."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from auditor.records.runs import open_run, read_signoffs, signoff_log
from auditor.web.app import create_app
from auditor.web.security import LoginThrottle
from .conftest import PASSWORD, make_workspace

# valid-until dates an approval may carry (at most 3 years, or the policy's re-audit interval, after the sign-off)
IN_A_YEAR = (date.today() + timedelta(days=365)).isoformat()
SOON = (date.today() + timedelta(days=10)).isoformat()


@pytest.fixture(scope="module")
def ws(history, tmp_path_factory):  # noqa: F811 - history comes from conftest.py
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("ws-app")
    mp.setenv("AUDITOR_KEYS_DIR", str(root / "keys"))
    ws = make_workspace(history, root)
    ws.app = create_app(ws.out, key="web")
    yield ws
    mp.undo()


def token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def shown(page: str) -> dict[str, str]:
    """The sign-off form's hidden fields: its CSRF token and the number of sign-offs it was shown."""
    return {"csrf_token": token(page), "signoffs_seen": re.search(r'name="signoffs_seen" value="([^"]*)"', page).group(1)}


def login(client: TestClient, name: str, password: str = PASSWORD):
    page = client.get("/login").text
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token(page)},
                       follow_redirects=False)


def test_unauthenticated_requests_are_redirected_to_login(ws):
    client = TestClient(ws.app)
    for path in ("/", "/due", f"/m/{ws.model}", f"/m/{ws.model}/v0001", f"/m/{ws.model}/v0001/report",
                 f"/m/{ws.model}/v0001/files/report.pdf", "/no-such-page"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next="), path
        assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store", path
    r = client.post(f"/m/{ws.model}/v0001/sign-off", data={"decision": "approve"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_logging_out_ends_the_session_for_a_copied_cookie_too(ws):
    """Logout cleared only the browser's cookie: the same cookie sent again still opened pages and
    recorded a signed approval for 8 hours."""
    client = TestClient(ws.app)
    assert login(client, "alice").status_code == 303
    cookie = client.cookies.get("auditor_session")
    form = token(client.get(f"/m/{ws.model}/v0001").text)
    assert client.post("/logout", data={"csrf_token": form}, follow_redirects=False).status_code == 303
    replay = TestClient(ws.app, cookies={"auditor_session": cookie})
    r = replay.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    before = read_signoffs(open_run(ws.out / ws.model / "v0001"))
    r = replay.post(f"/m/{ws.model}/v0001/sign-off", data={"decision": "approve", "comment": "replayed",
                                                           "csrf_token": form}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert read_signoffs(open_run(ws.out / ws.model / "v0001")) == before
    # a session that was not ended goes on
    other = TestClient(ws.app)
    assert login(other, "alice").status_code == 303 and other.get("/").status_code == 200


def test_session_cookie_flags_and_login(ws):
    client = TestClient(ws.app)
    r = client.get("/login")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    assert 'name="csrf_token"' in r.text
    r = login(client, "alice")
    assert r.status_code == 303 and r.headers["location"] == "/"
    page = client.get("/")
    assert page.status_code == 200 and "alice (approver)" in page.text
    assert "tiny" in page.text.lower()
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_secure_flag_over_tls(ws):
    client = TestClient(create_app(ws.out, secure=True), base_url="https://testserver")
    assert "secure" in client.get("/login").headers["set-cookie"].lower()


def test_login_without_csrf_token_is_forbidden(ws):
    client = TestClient(ws.app)
    client.get("/login")
    r = client.post("/login", data={"username": "alice", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403


def test_wrong_password_five_times_is_rate_limited(ws):
    client = TestClient(ws.app)
    for _ in range(5):
        assert login(client, "rita", "wrong password!").status_code == 401
    r = login(client, "rita")  # even the right password, now
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "Too many failed logins" in r.text
    # another user from the same address (behind a reverse proxy, every user's) still logs in: one
    # user's wrong passwords locked everyone out
    assert login(TestClient(ws.app), "alice").status_code == 303


def test_an_address_trying_many_names_is_throttled_at_its_own_higher_limit():
    """One address may fail 50 logins across names (a reverse proxy's users together) before it is
    locked out; a name 5 times, from anywhere."""
    throttle = LoginThrottle(clock=lambda: 0.0)
    for i in range(49):
        throttle.failed("addr:a", f"user:u{i // 4}")  # never 5 for one name
    assert throttle.retry_after("addr:a", "user:new") == 0
    throttle.failed("addr:a", "user:another")
    assert throttle.retry_after("addr:a", "user:new") > 0 and throttle.retry_after("addr:b", "user:new") == 0


def test_throttle_window():
    now = [0.0]
    throttle = LoginThrottle(max_failures=5, window_s=900, clock=lambda: now[0], max_address_failures=5)
    for _ in range(4):
        throttle.failed("addr:a", "user:u")
    assert throttle.retry_after("addr:a", "user:u") == 0
    throttle.failed("addr:a", "user:u")
    assert throttle.retry_after("addr:b", "user:u") == 901  # the name is throttled from any address
    now[0] = 899.0
    assert 0 < throttle.retry_after("addr:a") <= 2
    now[0] = 900.5
    assert throttle.retry_after("addr:a", "user:u") == 0


def test_paths_are_validated(ws):
    client = TestClient(ws.app)
    ws.app.state.workspace.throttle._failures.clear()
    login(client, "vera")
    for path in (f"/m/{ws.model}/v0009", f"/m/{ws.model}/..", "/m/../v0001", f"/m/{ws.model}/v0001/files/../../audits.sqlite",
                 f"/m/{ws.model}/v0001/files/%2e%2e/v0002/result.json", f"/m/{ws.model}/v0001/files/not-listed.txt",
                 f"/m/{ws.model}/v0001/signed/1", "/m/nobody", f"/m/{ws.model}/diff?a=v0001&b=../v0002",
                 # Starlette's int converter raised on 4,300 digits or more: a 500
                 f"/m/{ws.model}/v0001/signed/{'9' * 5000}", f"/m/{ws.model}/v0001/signed/-1",
                 f"/m/{ws.model}/v0001/signed/%D9%A1"):
        assert client.get(path).status_code == 404, path
    r = client.get(f"/m/{ws.model}/v0001/files/report.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF") and "attachment" in r.headers["content-disposition"]
    r = client.get(f"/m/{ws.model}/v0001/report")
    assert r.status_code == 200 and r.headers["content-security-policy"].startswith("default-src 'none'")
    assert client.get(f"/m/{ws.model}/diff?a=v0001&b=v0003").status_code == 200


def test_viewer_cannot_sign_and_reviewer_cannot_approve(ws):
    ws.app.state.workspace.throttle._failures.clear()
    viewer = TestClient(ws.app)
    login(viewer, "vera")
    page = viewer.get(f"/m/{ws.model}/v0002")
    assert 'id="signoff-form"' not in page.text and "may view audits but not sign" in page.text
    r = viewer.post(f"/m/{ws.model}/v0002/sign-off", data={"decision": "reject", "comment": "no", "csrf_token": token(page.text)})
    assert r.status_code == 403
    reviewer = TestClient(ws.app)
    login(reviewer, "rita")
    page = reviewer.get(f"/m/{ws.model}/v0002")
    assert '<option value="approve"' not in page.text and '<option value="reject"' in page.text
    r = reviewer.post(f"/m/{ws.model}/v0002/sign-off", data={"decision": "approve", "comment": "ok", "csrf_token": token(page.text)})
    assert r.status_code == 403
    assert read_signoffs(open_run(ws.out / ws.model / "v0002")) == []


def test_signoff_records_the_logged_in_user_signed(ws):
    ws.app.state.workspace.throttle._failures.clear()
    client = TestClient(ws.app)
    login(client, "alice")
    page = client.get(f"/m/{ws.model}/v0002").text
    r = client.post(f"/m/{ws.model}/v0002/sign-off", follow_redirects=False, data={
        "decision": "approve-with-conditions", "conditions": "monitor drift monthly", "comment": "fine",
        "valid_until": IN_A_YEAR, "reviewer": "mallory", **shown(page)})
    assert r.status_code == 303
    (record,) = read_signoffs(open_run(ws.out / ws.model / "v0002"))
    assert record["reviewer"] == "alice" and record["conditions"] == "monitor drift monthly"
    assert record["signature"]["key"] == "web" and record["valid_until"] == IN_A_YEAR
    pdf = client.get(f"/m/{ws.model}/v0002/signed/1")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # a forged POST without the token changes nothing
    r = client.post(f"/m/{ws.model}/v0002/sign-off", data={"decision": "reject", "comment": "forged"})
    assert r.status_code == 403
    assert len(read_signoffs(open_run(ws.out / ws.model / "v0002"))) == 1
    json.dumps(record)


def test_login_never_redirects_off_site(ws):
    ws.app.state.workspace.throttle._failures.clear()
    for nxt, expected in (("//evil.example/x", "/"), ("/\\evil.example", "/"), ("https://evil.example", "/"),
                          (f"/m/{ws.model}", f"/m/{ws.model}")):
        client = TestClient(ws.app)
        page = client.get("/login").text
        r = client.post("/login", params={"next": nxt}, follow_redirects=False,
                        data={"username": "vera", "password": PASSWORD, "csrf_token": token(page)})
        assert r.status_code == 303 and r.headers["location"] == expected, nxt


def test_serve_usage_errors(ws, tmp_path):
    import socket

    from history.helpers import flat, invoke

    res = invoke("serve", "--out", tmp_path / "nothing-here")
    assert res.exit_code == 2 and "does not exist" in flat(res.output)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        res = invoke("serve", "--out", ws.out, "--port", busy.getsockname()[1])
    assert res.exit_code == 2 and "cannot listen on 127.0.0.1" in flat(res.output)
    assert "serving" not in flat(res.output)  # it said it served before the port was found busy
    res = invoke("serve", "--out", ws.out, "--key", "no-such-key")
    assert res.exit_code == 2 and "no private key 'no-such-key'" in flat(res.output)


def test_serve_on_port_0_names_the_port_it_listens_on(ws, monkeypatch):
    from history.helpers import flat, invoke

    served = []
    monkeypatch.setattr("auditor.web.app.run_server", lambda app, sock, *a: served.append(sock.getsockname()[1]) or sock.close())
    res = invoke("serve", "--out", ws.out, "--port", 0)
    assert res.exit_code == 0, res.output
    assert served and served[0] != 0 and f"on http://127.0.0.1:{served[0]}/" in flat(res.output)


def test_serve_with_a_mistyped_db_or_a_file_for_out_creates_nothing_and_says_so(tmp_path):
    """`serve --db` naming a file that does not exist created an empty registry there and blamed a moved
    output folder; `--out` naming a file said it did not exist."""
    from auditor.errors import UsageError

    typo = tmp_path / "typo.sqlite"
    with pytest.raises(UsageError, match="the registry .*typo.sqlite does not exist"):
        create_app(tmp_path, db=f"sqlite:///{typo}")
    assert not typo.exists()
    afile = tmp_path / "policy.yaml"
    afile.write_text("x")
    with pytest.raises(UsageError, match="policy.yaml is a file, not a folder: nothing to serve"):
        create_app(afile)


def test_serve_on_an_output_folder_without_a_registry_creates_none(history, tmp_path):
    """`serve --out` on a folder without audits.sqlite created an empty one, then stopped ('indexes no run'):
    from then on `history` said 'no audits recorded' and `due` 'nothing due' (exit 0), the runs ignored."""
    from auditor.errors import UsageError
    from history.helpers import flat, invoke

    out = tmp_path / "out"
    shutil.copytree(history.out, out)
    (out / "audits.sqlite").unlink()
    with pytest.raises(UsageError, match="has no registry .audits.sqlite., which holds the accounts that log in"):
        create_app(out)
    assert not (out / "audits.sqlite").exists()
    res = invoke("history", "--out", out)
    assert res.exit_code == 0 and flat(res.output).count("tiny-model") == 3, res.output


def test_serve_refuses_a_missing_or_unreadable_tls_pair_before_starting(tmp_path):
    """A missing certificate, or files that are not PEM, are a usage error naming them (exit 2),
    found before the server starts; they were an internal error (exit 5) from the server's start."""
    from typer.testing import CliRunner

    from auditor.cli import app

    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for cert, key, said in ((tmp_path / "none.pem", junk, "--tls-cert"), (junk, tmp_path / "none.pem", "--tls-key"),
                            (junk, junk, "not a PEM certificate and its private key")):
        res = CliRunner().invoke(app, ["serve", "--out", str(tmp_path), "--port", "0", "--tls-cert", str(cert),
                                       "--tls-key", str(key)])
        assert res.exit_code == 2 and said in " ".join(res.output.split()), res.output


def test_a_run_whose_result_was_altered_is_an_error_page_not_a_server_error(history, tmp_path, monkeypatch):
    """The run page, the diff and a sign-off answered 500 with a traceback in the log (a template met
    checks that were not a list); now 422 naming the field, and nothing is signed."""
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    run_dir = ws.out / ws.model / "v0002"
    result = json.loads((run_dir / "result.json").read_text())
    result["checks"] = "x"
    (run_dir / "result.json").write_text(json.dumps(result))
    client = TestClient(create_app(ws.out, key="web"), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    for path in (f"/m/{ws.model}/v0002", f"/m/{ws.model}/diff?a=v0001&b=v0002"):
        page = client.get(path)
        assert page.status_code == 422, path
        assert "This run cannot be shown" in page.text and "checks: Input should be a valid list" in page.text
        assert "auditor verify" in page.text
    form = token(client.get(f"/m/{ws.model}/v0001").text)
    r = client.post(f"/m/{ws.model}/v0002/sign-off", data={"decision": "approve", "comment": "ok", "csrf_token": form},
                    follow_redirects=False)
    assert r.status_code == 422
    assert read_signoffs(open_run(run_dir)) == []


def test_a_sign_off_log_with_a_lone_surrogate_escape_is_an_error_page_and_a_finding(history, tmp_path, monkeypatch):
    """A record whose comment was edited to the JSON escape \\ud800 (text UTF-8 cannot hold) answered
    the run page with 500 and ended `auditor verify` with an internal error; now the page is 422 and
    verify names the record."""
    from auditor.records.verify import verify_run

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    client = TestClient(create_app(ws.out, key="web"), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    form = shown(client.get(f"/m/{ws.model}/v0002").text)
    r = client.post(f"/m/{ws.model}/v0002/sign-off", data={"decision": "reject", "comment": "no", **form},
                    follow_redirects=False)
    assert r.status_code == 303
    log = signoff_log(open_run(ws.out / ws.model / "v0002"))
    record = json.loads(log.read_text())
    log.write_text(json.dumps({**record, "comment": "\ud800"}) + "\n")
    assert client.get(f"/m/{ws.model}/v0002").status_code == 422
    findings = [str(f) for f in verify_run(ws.out / ws.model / "v0002").findings]
    assert any("record 1 holds a lone surrogate escape" in f for f in findings), findings


@pytest.mark.parametrize("manifest", [b"[1, 2]", b"{not json", b"\xff\xfe", b'{"files": [["result.json", "x"]]}',
                                      b'{"files": null}'])
def test_a_run_whose_manifest_was_altered_is_an_error_page_naming_it(history, tmp_path, monkeypatch, manifest):
    """A damaged manifest.json answered 500 (the run page, its files, the report, the diff); now the
    422 page names manifest.json, not result.json."""
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    (ws.out / ws.model / "v0002" / "manifest.json").write_bytes(manifest)
    client = TestClient(create_app(ws.out, key="web"), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    for path in (f"/m/{ws.model}/v0002", f"/m/{ws.model}/v0002/files/result.json", f"/m/{ws.model}/v0002/report",
                 f"/m/{ws.model}/diff?a=v0001&b=v0002"):
        page = client.get(path)
        assert page.status_code == 422, (path, page.status_code)
        assert "Its manifest.json does not read as what it should be" in page.text and "auditor verify" in page.text


@pytest.mark.parametrize("host, warned", [("0.0.0.0", True), ("192.0.2.7", True), ("reviews.example", True),
                                          ("127.0.0.1", False), ("::1", False), ("localhost", False)])
def test_serving_plain_http_beyond_this_machine_warns(ws, monkeypatch, host, warned):
    from history.helpers import flat, invoke

    class Bound:  # a documentation address cannot be bound here
        def getsockname(self):
            return (host, 8765)

    monkeypatch.setattr("auditor.web.app.listen", lambda *a: Bound())
    monkeypatch.setattr("auditor.web.app.run_server", lambda *a, **k: None)
    res = invoke("serve", "--out", ws.out, "--host", host)
    assert res.exit_code == 0, res.output
    assert ("plain HTTP: passwords and session cookies cross the network unencrypted" in flat(res.output)) == warned


def test_the_run_page_shows_statuses_as_the_report_does(ws):
    """A check with no warning or blocking threshold is INFO in the report; the web page said PASS."""
    client = TestClient(ws.app)
    assert login(client, "vera").status_code == 303
    page = client.get(f"/m/{ws.model}/v0001").text
    result = json.loads((ws.out / ws.model / "v0001" / "result.json").read_text())
    from auditor.render.scope import report_scope
    from auditor.results import AuditResult

    scope = report_scope(AuditResult.model_validate(result))
    for check in result["checks"]:
        shown = scope.shown[check["id"]]
        assert re.search(rf"<td>{re.escape(check['id'])}</td><td><span class=\"status status-{shown}\">{shown.upper()}</span>", page)
    assert f'status-{scope.overall}">{scope.overall.upper()}</span></h1>' in page


def test_a_file_sent_as_a_form_field_is_refused_not_recorded(ws):
    """A multipart POST with a file as the comment recorded the upload's repr ("UploadFile(filename=
    ...)") as the signed comment; it is refused (400) and nothing is recorded."""
    ws.app.state.workspace.throttle._failures.clear()
    client = TestClient(ws.app)
    login(client, "alice")
    run_dir = ws.out / ws.model / "v0001"
    before = read_signoffs(open_run(run_dir))
    form = token(client.get(f"/m/{ws.model}/v0001").text)
    r = client.post(f"/m/{ws.model}/v0001/sign-off", data={"decision": "reject", "csrf_token": form},
                    files={"comment": ("why.txt", b"because")}, follow_redirects=False)
    assert r.status_code == 400
    assert "The form sent a file as comment" in r.text
    assert read_signoffs(open_run(run_dir)) == before


def test_a_registry_damaged_while_serving_is_a_503_page_not_a_server_error(history, tmp_path, monkeypatch):
    """The registry overwritten while the server runs: every page answered 500 (the session check reads
    the accounts before any route's error handler). Now 503 naming the registry, login included."""
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    app = create_app(ws.out)
    client = TestClient(app, raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    (ws.out / "audits.sqlite").write_bytes(b"not a database " * 1000)
    for path in ("/", "/due", f"/m/{ws.model}", f"/m/{ws.model}/v0001", f"/m/{ws.model}/v0001/report"):
        page = client.get(path)
        assert page.status_code == 503, (path, page.status_code)
        assert "The registry cannot be read" in page.text and "cannot read the registry" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert login(TestClient(app, raise_server_exceptions=True), "alice").status_code == 503


def test_a_run_folder_replaced_by_a_link_loop_is_not_found(history, tmp_path, monkeypatch):
    """A model folder replaced by a symbolic link to itself while serving: resolve() raised
    RuntimeError, a 500 on every page of its runs; now 404, and the other models still show."""
    import shutil

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    client = TestClient(create_app(ws.out), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    form = token(client.get(f"/m/{ws.model}/v0001").text)
    shutil.rmtree(ws.out / ws.model)
    (ws.out / ws.model).symlink_to(ws.out / ws.model)
    for path in (f"/m/{ws.model}/v0001", f"/m/{ws.model}/v0001/report", f"/m/{ws.model}/v0001/files/report.pdf"):
        assert client.get(path).status_code == 404, path
    r = client.post(f"/m/{ws.model}/v0001/sign-off", data={"decision": "reject", "comment": "x", "csrf_token": form})
    assert r.status_code == 404
    assert client.get("/").status_code == 200


def test_a_sign_off_folder_that_cannot_be_written_is_said_on_the_form(history, tmp_path, monkeypatch):
    """A file where the model's signoffs folder belongs: the sign-off answered 500; now the form
    again (400) saying which path, and nothing recorded."""
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    client = TestClient(create_app(ws.out), raise_server_exceptions=True)
    assert login(client, "rita").status_code == 303
    (ws.out / ws.model / "signoffs").write_text("not a folder")
    form = shown(client.get(f"/m/{ws.model}/v0001").text)
    r = client.post(f"/m/{ws.model}/v0001/sign-off", data={"decision": "reject", "comment": "x", **form})
    assert r.status_code == 400
    assert "cannot record the sign-off" in r.text and "a file is there, where the sign-offs need a folder" in r.text
    assert (ws.out / ws.model / "signoffs").read_text() == "not a folder"


@pytest.mark.parametrize("damage", ["a row cut short", "not UTF-8", "a folder"])
def test_a_diff_of_a_run_whose_evidence_was_altered_names_the_file(history, tmp_path, monkeypatch, damage):
    """An attributions CSV of a run cut short (a row without its value), not UTF-8, or replaced by a
    folder: the workspace's diff page answered 500, `auditor diff` exit 3 blaming result.json (short
    row, UTF-8) or an unhandled IsADirectoryError (an internal error, exit 5). Now the 422 page and
    exit 3, naming the evidence file. A row cut short reads (it is no attribution): that diff is
    written, and names the run whose file no longer matches its manifest (exit 1)."""
    from history.helpers import flat, invoke

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    csv_file = ws.out / ws.model / "v0002" / "evidence" / "attributions-shap.csv"
    if damage == "a row cut short":
        csv_file.write_text("name,value\nx1\n")
    elif damage == "not UTF-8":
        csv_file.write_bytes(b"name,value\n\xff\xfe,1\n")
    else:
        csv_file.unlink()
        csv_file.mkdir()
    client = TestClient(create_app(ws.out, key="web"), raise_server_exceptions=False)
    assert login(client, "alice").status_code == 303
    page = client.get(f"/m/{ws.model}/diff?a=v0001&b=v0002")
    assert page.status_code in (200, 422), page.status_code
    res = invoke("diff", ws.out / ws.model / "v0001", ws.out / ws.model / "v0002", "--no-pdf")
    if damage == "a row cut short":  # the row is no attribution; the others are compared
        assert page.status_code == 200 and "B (v0002) does not verify" in page.text
        assert res.exit_code == 1 and "NOT VERIFIED B v0002" in flat(res.output), res.output
        assert "evidence/attributions-shap.csv: altered" in flat(res.output)
    else:
        assert page.status_code == 422 and "Its attributions-shap.csv does not read as what it should be" in page.text
        assert res.exit_code == 3 and f"{csv_file} (1 problem)" in flat(res.output), res.output
        assert "cannot be read as the run's attributions" in flat(res.output)


@pytest.mark.parametrize("interval, created_at", [("soon", None), (10**12, None),
                                                  (30, "9999-12-31T00:00:00+00:00")])
def test_a_model_page_with_an_edited_reaudit_record_is_shown(history, tmp_path, monkeypatch, interval, created_at):
    """A run whose result.json was edited (a re-audit interval that is not a number of days, or one
    beyond the calendar; a date at its end): the model page and the run page answered 500 (the re-audit
    day was computed with int() and a date addition, unguarded). Both are shown now, without a
    re-audit day for that run, and the due page names the record."""
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    source = tmp_path / "source"
    shutil.copytree(history.out, source)
    (source / "audits.sqlite").unlink()
    run_dir = source / history.model_dir.name / "v0002"
    result = json.loads((run_dir / "result.json").read_text())
    result["policy"]["reaudit_interval_days"] = interval
    result["created_at"] = created_at or result["created_at"]
    (run_dir / "result.json").write_text(json.dumps(result))
    ws = make_workspace(SimpleNamespace(out=source, model_dir=history.model_dir), tmp_path)
    client = TestClient(create_app(ws.out, key="web"), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    for path in (f"/m/{ws.model}", f"/m/{ws.model}/v0001", "/due"):
        assert client.get(path).status_code == 200, path
    assert client.get(f"/m/{ws.model}/v0002").status_code in (200, 422)  # 422: the result fails its schema, named


def test_a_moved_output_folder_is_not_served_as_an_empty_one(history, tmp_path, monkeypatch):
    """An output folder moved (or copied) with its registry: every row names the old place, and the
    workspace listed no model, answered 404 for every run and said nothing was due. `serve` now
    refuses to start (exit 2) and says how to index the runs; after the rebuild the accounts still
    log in and the runs are listed."""
    from history.helpers import flat, invoke

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path / "before")
    moved = tmp_path / "after"
    (tmp_path / "before").rename(moved)
    out = moved / "out"
    monkeypatch.setattr("auditor.web.app.run_server", lambda *a, **k: None)
    res = invoke("serve", "--out", out)
    assert res.exit_code == 2, res.output
    text = flat(res.output)
    assert f"the registry indexes no run under {out}" in text and "moved or copied" in text
    assert f"auditor history --rebuild --out {out}" in text
    assert invoke("history", "--rebuild", "--out", out).exit_code == 0
    client = TestClient(create_app(out), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    page = client.get(f"/m/{ws.model}")
    assert page.status_code == 200 and "v0002" in page.text


def test_the_run_page_of_an_altered_run_says_it_fails_verification(history, tmp_path, monkeypatch):
    """The run page showed an altered run (a report file edited, a sign-off record forged onto its
    log) as any other: its checks, and the forged approval 'signed with key web'. It carries what
    `auditor verify` reports now; a sound run's page has no such notice."""
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    run_dir = ws.out / ws.model / "v0002"
    (run_dir / "report.html").write_bytes((run_dir / "report.html").read_bytes() + b"<!-- edited -->")
    client = TestClient(create_app(ws.out, key="web"), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    page = client.get(f"/m/{ws.model}/v0002")
    assert page.status_code == 200
    assert 'id="altered"' in page.text and "This run fails verification" in page.text
    assert "report.html: altered" in page.text
    sound = client.get(f"/m/{ws.model}/v0001")
    assert sound.status_code == 200 and 'id="altered"' not in sound.text


def test_a_manifest_replaced_by_a_link_to_another_file_is_not_served(history, tmp_path, monkeypatch):
    """manifest.json replaced by a link to a file outside the run: its download answered 200 with that
    file (any logged-in viewer could read /etc/passwd); every other listed file was already held to
    the run's folder."""
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("not the run's")
    manifest = ws.out / ws.model / "v0002" / "manifest.json"
    shutil.copy(manifest, tmp_path / "manifest.json")
    manifest.unlink()
    manifest.symlink_to(secret)
    client = TestClient(create_app(ws.out), raise_server_exceptions=True)
    assert login(client, "vera").status_code == 303  # a viewer
    page = client.get(f"/m/{ws.model}/v0002/files/manifest.json")
    assert page.status_code in (404, 422) and "not the run's" not in page.text


@pytest.mark.parametrize("name", ["a" * 300, "x\x00y"])
def test_a_manifest_listing_a_name_the_system_refuses_is_a_finding_not_a_server_error(history, tmp_path, monkeypatch,
                                                                                    name):
    """A listed name longer than the system allows ended `auditor verify` in an internal error and
    answered the run page, the file and the diff with 500; a NUL in it did the same once checked
    before the link test."""
    from auditor.records.verify import verify_run

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    run_dir = ws.out / ws.model / "v0002"
    body = json.loads((run_dir / "manifest.json").read_text())
    body["files"][name] = "0" * 64
    (run_dir / "manifest.json").write_text(json.dumps(body))
    findings = {(f.path, f.problem) for f in verify_run(run_dir).findings}
    assert (name, "altered") in findings, findings
    client = TestClient(create_app(ws.out), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    for path in (f"/m/{ws.model}/v0002", f"/m/{ws.model}/diff?a=v0001&b=v0002"):
        assert client.get(path).status_code in (200, 422), path
    if "\x00" not in name:
        assert client.get(f"/m/{ws.model}/v0002/files/{name}").status_code == 404


def test_a_bidi_override_in_a_sign_off_comment_is_shown_as_an_escape_on_the_run_page(history, tmp_path, monkeypatch):
    """The web pages printed a comment's U+202E as it is (it reverses how the rest of the line reads);
    report.html already wrote it as a visible escape."""
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    client = TestClient(create_app(ws.out), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    form = shown(client.get(f"/m/{ws.model}/v0002").text)
    r = client.post(f"/m/{ws.model}/v0002/sign-off", follow_redirects=False,
                    data={"decision": "reject", "comment": "no \u202edevorppa", **form})
    assert r.status_code == 303
    page = client.get(f"/m/{ws.model}/v0002").text
    assert "no \\u202edevorppa" in page and "\u202e" not in page


@pytest.mark.parametrize("edit", [{"signature": "abc"}, {"signature": ["x"]}, {"n": None}, {"comment": None},
                                  {"decision": None}, {"signed_at": None}, {"signature": {"algorithm": "ed25519"}},
                                  {"signed_pdf": 5}, {"signed_pdf": ["x"]}])
def test_a_run_page_of_an_edited_sign_off_record_shows_the_findings_not_a_server_error(history, tmp_path, monkeypatch,
                                                                                       edit):
    """A record missing a field, or whose signature is not an object, answered 500 (the template read
    the fields strictly); the page must show what `auditor verify` says about the run. A signed_pdf that
    is not text answered its signed report's link with 500 (a TypeError joining it to the folder): 404."""
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    client = TestClient(create_app(ws.out), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    form = shown(client.get(f"/m/{ws.model}/v0002").text)
    assert client.post(f"/m/{ws.model}/v0002/sign-off", follow_redirects=False,
                       data={"decision": "reject", "comment": "no", **form}).status_code == 303
    log = signoff_log(open_run(ws.out / ws.model / "v0002"))
    record = {k: v for k, v in {**json.loads(log.read_text()), **edit}.items() if v is not None}
    log.write_text(json.dumps(record, sort_keys=True) + "\n")
    page = client.get(f"/m/{ws.model}/v0002")
    assert page.status_code == 200 and "This run fails verification" in page.text, page.text[:400]
    assert client.get(f"/m/{ws.model}/v0002/signed/1").status_code in (200, 404)


def test_a_sign_off_without_a_known_decision_is_a_malformed_form_not_a_role_matter(ws):
    ws.app.state.workspace.throttle._failures.clear()
    client = TestClient(ws.app)
    login(client, "alice")
    for decision in ("", "approve-all"):
        page = client.get(f"/m/{ws.model}/v0001").text
        r = client.post(f"/m/{ws.model}/v0001/sign-off", data={"decision": decision, "comment": "ok",
                                                               "csrf_token": token(page)})
        assert r.status_code == 400 and "Choose a decision: approve, approve-with-conditions, reject." in r.text
    assert read_signoffs(open_run(ws.out / ws.model / "v0001")) == []


@pytest.mark.parametrize("host, sent, answered", [
    ("127.0.0.1", "127.0.0.1:8799", 200), ("127.0.0.1", "localhost:8799", 200),
    ("127.0.0.1", "attacker.example:8799", 400), ("localhost", "rebound.example", 400),
    ("0.0.0.0", "audit.internal:8799", 200), ("10.1.2.3", "10.1.2.3", 200), ("10.1.2.3", "evil.example", 400),
    ("::1", "[::1]:8799", 200), ("::1", "localhost:8799", 200), ("::1", "evil.example", 400),
])
def test_a_server_answers_only_the_host_names_it_listens_by(ws, host, sent, answered):
    """Any Host header was answered: a page whose domain re-binds to 127.0.0.1 (DNS rebinding) could
    drive the login form from a reviewer's browser and trip the per-address throttle for everyone."""
    client = TestClient(create_app(ws.out, host=host))
    assert client.get("/login", headers={"host": sent}).status_code == answered
    # every other path too, before the login redirect (it was a 303 to /login, then the 400)
    for path in ("/", f"/m/{ws.model}/v0001", "/due"):
        r = client.get(path, headers={"host": sent}, follow_redirects=False)
        assert r.status_code == (answered if answered == 400 else 303), path
        assert r.headers["x-frame-options"] == "DENY", path
    r = client.post(f"/m/{ws.model}/v0001/sign-off", headers={"host": sent}, data={"decision": "approve"},
                    follow_redirects=False)
    assert r.status_code == (answered if answered == 400 else 303)


def test_a_refused_sign_off_puts_the_form_back_as_typed_and_records_the_comment_with_lf_line_ends(history, tmp_path,
                                                                                                   monkeypatch):
    """The refused form was put back through the pages' control-character escapes: the browser's CRLF
    came back as a literal backslash-r, which the next submit signed (one more per refused submit)."""
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    client = TestClient(create_app(ws.out), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    typed = "First <paragraph> & \u202e.\r\nSecond paragraph.\x01"
    form = shown(client.get(f"/m/{ws.model}/v0002").text)
    r = client.post(f"/m/{ws.model}/v0002/sign-off", data={"decision": "approve-with-conditions", "comment": typed,
                                                           "valid_until": "2999-01-01", **form})
    assert r.status_code == 400 and "State the conditions of the approval." in r.text
    assert ('required>First &lt;paragraph&gt; &amp; \u202e.\r\nSecond paragraph.\x01</textarea>' in r.text)
    assert 'name="valid_until" id="valid_until" min="' in r.text and 'value="2999-01-01">' in r.text
    r = client.post(f"/m/{ws.model}/v0002/sign-off", follow_redirects=False,
                    data={"decision": "approve-with-conditions", "comment": "First paragraph.\r\nSecond.\rThird.",
                          "conditions": "Monitor\r\nmonthly.", **form})
    assert r.status_code == 303
    record = read_signoffs(open_run(ws.out / ws.model / "v0002"))[-1]
    assert (record["comment"], record["conditions"]) == ("First paragraph.\nSecond.\nThird.", "Monitor\nmonthly.")


def test_a_sign_off_from_a_form_shown_before_another_decision_is_refused_and_records_nothing(history, tmp_path,
                                                                                             monkeypatch):
    """Reviewer A opened the form, B rejected, then A approved from the form shown before B's decision:
    both were recorded, the chain verified, and A's approval stood though A never saw the rejection.
    Now 409 naming B's decision, nothing written, the form back as typed and counting B's record: A's
    next submit, made having seen it, is recorded."""
    from auditor.records.verify import verify_run

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    app = create_app(ws.out, key="web")
    alice, rita = TestClient(app, raise_server_exceptions=True), TestClient(app, raise_server_exceptions=True)
    assert login(alice, "alice").status_code == 303 and login(rita, "rita").status_code == 303
    run_dir = ws.out / ws.model / "v0002"
    stale = shown(alice.get(f"/m/{ws.model}/v0002").text)
    assert stale["signoffs_seen"] == "0"
    r = rita.post(f"/m/{ws.model}/v0002/sign-off", follow_redirects=False,
                  data={"decision": "reject", "comment": "drift too high", **shown(rita.get(f"/m/{ws.model}/v0002").text)})
    assert r.status_code == 303
    (rejection,) = read_signoffs(open_run(run_dir))
    log, signed = signoff_log(open_run(run_dir)), ws.out / ws.model / "signoffs" / "v0002"
    before = (log.read_bytes(), sorted(p.name for p in signed.iterdir()))
    typed = {"decision": "approve-with-conditions", "conditions": "monitor <drift>", "comment": "fine by me",
             "valid_until": IN_A_YEAR}
    r = alice.post(f"/m/{ws.model}/v0002/sign-off", follow_redirects=False, data={**typed, **stale})
    assert r.status_code == 409
    assert ("tiny-model v0002 was signed off since the form was shown (1 sign-off now, 0 then): #1 reject by rita at "
            f"{rejection['signed_at']}") in r.text and "nothing was recorded" in r.text
    assert (log.read_bytes(), sorted(p.name for p in signed.iterdir())) == before  # no record, no signed PDF
    assert '<option value="approve-with-conditions" selected>' in r.text and "monitor &lt;drift&gt;</textarea>" in r.text
    assert "fine by me</textarea>" in r.text and f'value="{IN_A_YEAR}">' in r.text
    again = shown(r.text)
    assert again["signoffs_seen"] == "1" and 'id="signoff-table"' in r.text
    r = alice.post(f"/m/{ws.model}/v0002/sign-off", follow_redirects=False, data={**typed, **again})
    assert r.status_code == 303
    assert [(s["reviewer"], s["decision"]) for s in read_signoffs(open_run(run_dir))] == [
        ("rita", "reject"), ("alice", "approve-with-conditions")]
    assert verify_run(run_dir).ok


@pytest.mark.parametrize("seen", [None, "", "one", "-1", "1.0", " 0x1", "\u0661", "9" * 5000])
def test_a_sign_off_form_without_a_readable_count_of_the_sign_offs_it_showed_is_a_400(history, tmp_path, monkeypatch,
                                                                                      seen):
    """The form's signoffs_seen field missing, empty or not a number (a form of an older page, a
    hand-made POST) is refused as a malformed form, nothing recorded, and shown again counting the
    sign-offs as they are now."""
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    client = TestClient(create_app(ws.out), raise_server_exceptions=True)
    assert login(client, "rita").status_code == 303
    form = shown(client.get(f"/m/{ws.model}/v0001").text)
    if seen is None:
        del form["signoffs_seen"]
    else:
        form["signoffs_seen"] = seen
    r = client.post(f"/m/{ws.model}/v0001/sign-off", data={"decision": "reject", "comment": "kept as typed", **form})
    assert r.status_code == 400
    assert "The form did not say which sign-offs it was shown" in r.text and "nothing was recorded" in r.text
    assert "kept as typed</textarea>" in r.text and shown(r.text)["signoffs_seen"] == "0"
    assert read_signoffs(open_run(ws.out / ws.model / "v0001")) == []
    assert not (ws.out / ws.model / "signoffs").exists()


def reaudit_workspace(history, tmp_path, runs: dict[str, tuple[int, int | None]]):
    """A workspace whose runs were made ``days`` ago under a policy asking for a re-audit every
    ``interval`` days (None: none), as {version: (days, interval)}; the result files are edited, so
    these runs no longer verify (the model and due pages do not verify)."""
    from datetime import datetime, timedelta, timezone

    source = tmp_path / "source"
    shutil.copytree(history.out, source)
    (source / "audits.sqlite").unlink()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    made = {}
    for version, (days, interval) in runs.items():
        run_dir = source / history.model_dir.name / version
        result = json.loads((run_dir / "result.json").read_text())
        made[version] = now - timedelta(days=days)
        result["created_at"], result["policy"]["reaudit_interval_days"] = made[version].isoformat(), interval
        (run_dir / "result.json").write_text(json.dumps(result))
    ws = make_workspace(SimpleNamespace(out=source, model_dir=history.model_dir), tmp_path)
    client = TestClient(create_app(ws.out), raise_server_exceptions=True)
    assert login(client, "vera").status_code == 303
    return ws, client, made


def version_row(page: str, version: str) -> str:
    return re.search(rf'<tr>\s*<td><a href="[^"]*/{version}">{version}</a></td>.*?</tr>', page, re.S).group(0)


def test_the_model_page_shows_the_re_audit_due_judges_after_a_run_without_an_interval(history, tmp_path,
                                                                                     monkeypatch):
    """The model page showed each run's own policy's re-audit day: the newest run, under a policy
    without an interval, none, and an older run's past day "overdue", while `due` (the last interval
    declared holds, counted from the newest run) said nothing was due. One re-audit day for the
    model now, as `due` computes it; the older runs' rows are superseded, not overdue."""
    from datetime import timedelta

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws, client, made = reaudit_workspace(history, tmp_path, {"v0001": (400, 30), "v0002": (300, None), "v0003": (2, None)})
    page = client.get(f"/m/{ws.model}").text
    next_due = (made["v0003"] + timedelta(days=30)).date()
    assert re.search(rf'<p id="reaudit"><span class="">Re-audit due {next_due}</span>: last audit v0003 on '
                     rf'{made["v0003"].date()}; policy \S+ \S+ \(of v0001\) asks for one every 30 days \(due {next_due}\)\.</p>',
                     page), page
    assert 'class="overdue"' not in page
    assert f"<td><span class=\"\">{next_due}</span></td>" in version_row(page, "v0003")
    for older in ("v0001", "v0002"):
        assert '<span class="superseded">superseded by v0003</span>' in version_row(page, older)
    assert 'id="nothing-due"' in client.get("/due").text
    # the models page had no re-audit column, though the workspace's docstring promised one: the same day
    models = client.get("/").text
    assert f'<td><span class="">{next_due}</span></td>' in models and 'class="overdue"' not in models, models


def test_the_model_page_marks_an_overdue_re_audit_once_for_the_model_as_due_does(history, tmp_path, monkeypatch):
    """The newest run's interval has passed: the model page says overdue, on the newest run's row
    only (an older run's day, past too, was marked beside it), with the due page's words and day."""
    from datetime import timedelta

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws, client, made = reaudit_workspace(history, tmp_path, {"v0001": (400, None), "v0002": (200, 30), "v0003": (40, 30)})
    page = client.get(f"/m/{ws.model}").text
    next_due = (made["v0003"] + timedelta(days=30)).date()
    due_page = client.get("/due").text
    detail = re.search(r'<td class="overdue">re-audit overdue</td><td>([^<]+)</td><td>([^<]+)</td>', due_page)
    assert detail and detail.group(1) == str(next_due), due_page
    assert f'<p id="reaudit"><span class="overdue">Re-audit overdue</span>: {detail.group(2)}.</p>' in page
    assert f'<td><span class="overdue">{next_due}</span></td>' in version_row(page, "v0003")
    assert page.count('class="overdue"') == 2  # the model's line and the newest run's day
    assert f'<td><span class="overdue">{next_due}</span></td>' in client.get("/").text
    assert '<span class="superseded">superseded by v0003</span>' in version_row(page, "v0002")


def test_the_model_page_and_the_due_page_say_due_today_on_the_due_day(history, tmp_path, monkeypatch):
    """On the day the re-audit falls due both pages said "overdue"; it is due that day, overdue after it."""
    from datetime import timedelta

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws, client, made = reaudit_workspace(history, tmp_path, {"v0001": (400, None), "v0002": (200, None), "v0003": (30, 30)})
    next_due = (made["v0003"] + timedelta(days=30)).date()
    due_page = client.get("/due").text
    detail = re.search(r'<td class="overdue">re-audit due today</td><td>([^<]+)</td><td>([^<]+)</td>', due_page)
    assert detail and detail.group(1) == str(next_due) and "re-audit overdue" not in due_page, due_page
    page = client.get(f"/m/{ws.model}").text
    assert f'<p id="reaudit"><span class="overdue">Re-audit due today</span>: {detail.group(2)}.</p>' in page, page


def test_the_model_page_marks_an_expired_approval_only_where_due_judges_it(history, tmp_path, monkeypatch):
    """An older run's approval that expired was marked overdue beside the newest run's valid approval;
    `due` judges the newest run's sign-off and lists nothing. A run's own page marks its latest approval
    once expired (its sign-off table had not), not an earlier one that a later sign-off superseded."""
    from datetime import datetime, timezone

    from auditor.records.signoff import sign_off

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    model_dir = ws.out / ws.model
    sign_off(model_dir / "v0001", reviewer="alice", decision="approve-with-conditions", comment="ok", conditions="watch",
             valid_until="2020-06-30", now=datetime(2020, 1, 2, tzinfo=timezone.utc))
    sign_off(model_dir / "v0003", reviewer="alice", decision="approve-with-conditions", comment="ok", conditions="watch",
             valid_until=SOON)  # within v0003's policy's re-audit interval (30 days)
    client = TestClient(create_app(ws.out), raise_server_exceptions=True)
    assert login(client, "vera").status_code == 303
    page = client.get(f"/m/{ws.model}").text
    assert '<span class="">2020-06-30</span>' in version_row(page, "v0001")
    assert f'<span class="">{SOON}</span>' in version_row(page, "v0003")
    assert 'id="nothing-due"' in client.get("/due").text
    # each run's own page says whether its latest approval still holds
    assert '<span class="overdue">2020-06-30 (expired)</span>' in client.get(f"/m/{ws.model}/v0001").text
    newest = client.get(f"/m/{ws.model}/v0003").text
    assert f"<td>{SOON}</td>" in newest and "(expired)" not in newest
    # the newest run's own approval expired: marked there, and listed as due
    sign_off(model_dir / "v0003", reviewer="alice", decision="approve-with-conditions", comment="ok", conditions="watch",
             valid_until="2021-06-30", now=datetime(2021, 6, 1, tzinfo=timezone.utc))
    page = client.get(f"/m/{ws.model}").text
    assert '<span class="overdue">2021-06-30</span>' in version_row(page, "v0003")
    assert '<span class="">2020-06-30</span>' in version_row(page, "v0001")
    assert "approval expired" in client.get("/due").text
    newest = client.get(f"/m/{ws.model}/v0003").text
    assert '<span class="overdue">2021-06-30 (expired)</span>' in newest and f"<td>{SOON}</td>" in newest


def test_a_key_revoked_while_the_server_runs_signs_nothing_and_serve_refuses_to_start_with_it(history, tmp_path,
                                                                                              monkeypatch):
    """`auditor keys revoke` while `serve --key` runs: the next web sign-off is refused (the form again,
    400, naming the revocation) and nothing is written; a server started with the revoked key stops."""
    from auditor.errors import UsageError
    from auditor.records.registry import open_registry
    from auditor.records.signatures import revoke_key

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    client = TestClient(create_app(ws.out, key="web"), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    form = shown(client.get(f"/m/{ws.model}/v0001").text)
    with open_registry(ws.out) as registry:
        revoke_key(registry, "web", "the server's disk was copied")
    r = client.post(f"/m/{ws.model}/v0001/sign-off", data={"decision": "reject", "comment": "no", **form})
    assert r.status_code == 400, r.text
    assert "key &#39;web&#39; was revoked at" in r.text and "the server&#39;s disk was copied" in r.text, r.text
    assert read_signoffs(open_run(ws.out / ws.model / "v0001")) == []
    assert not (ws.out / ws.model / "signoffs" / "v0001").exists()
    with pytest.raises(UsageError, match="key 'web' was revoked at"):
        create_app(ws.out, key="web")


def alert(page: str) -> str:
    return re.sub(r"\s+", " ", re.search(r'role="alert">(.*?)</p>', page, re.S).group(1))


def test_what_was_removed_after_the_server_started_is_named_on_the_404_page(history, tmp_path, monkeypatch):
    """A run folder, a listed file or a signed report removed while serving was "There is no such page
    or run.", the page for a mistyped URL: a reviewer could not tell a deleted audit from a typo. The
    404 page now says what is missing and that the run was altered (never the server's paths)."""
    from auditor.records.signoff import sign_off

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    sign_off(ws.out / ws.model / "v0002", reviewer="Ann", decision="approve", comment="ok")
    client = TestClient(create_app(ws.out, key="web"), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    shutil.rmtree(ws.out / ws.model / "v0001")
    (ws.out / ws.model / "v0002" / "report.pdf").unlink()
    (ws.out / ws.model / "signoffs" / "v0002" / "report-signed-1.pdf").unlink()
    for path, said in ((f"/m/{ws.model}/v0001", f"{ws.model} v0001 is in the registry, but its run folder or its "
                        "result.json is no longer on disk: it was moved or deleted after the run was recorded."),
                       (f"/m/{ws.model}/diff?a=v0001&b=v0003", f"{ws.model} v0001 is in the registry"),
                       (f"/m/{ws.model}/v0002/files/report.pdf", "report.pdf is listed in the run's manifest.json but "
                        "missing from the run folder: the run was altered after it was written"),
                       (f"/m/{ws.model}/v0002/signed/1", "the signed report of sign-off #1 (report-signed-1.pdf) is "
                        "missing from the model's signoffs folder"),
                       (f"/m/{ws.model}/v0009", f"no run {ws.model}/v0009."),
                       (f"/m/{ws.model}/v0002/files/not-listed.txt", "not-listed.txt is not a file of this run."),
                       (f"/m/{ws.model}/v0002/signed/2", "no sign-off #2.")):
        page = client.get(path)
        assert page.status_code == 404, path
        assert said in alert(page.text).replace("&#39;", "'"), (path, alert(page.text))
        assert str(tmp_path) not in page.text
    assert "There is no such page or run." in client.get("/no/such/page").text


def test_a_diff_without_two_versions_says_what_to_give(ws):
    """/m/MODEL/diff without ?a= and ?b= was a 404 "There is no such page or run."; now a 400 naming the query."""
    client = TestClient(ws.app)
    ws.app.state.workspace.throttle._failures.clear()
    login(client, "vera")
    for query, said in (("", "neither was given"), ("?a=v0001", "only one was given"), ("?b=v0002", "only one was given")):
        page = client.get(f"/m/{ws.model}/diff{query}")
        assert page.status_code == 400, query
        assert alert(page.text) == f"Choose two versions to compare: /m/{ws.model}/diff?a=v0001&amp;b=v0002 ({said}).", query
    page = client.get(f"/m/{ws.model}/diff?a=v0001&b=v0001")
    assert page.status_code == 400 and alert(page.text) == "Choose two different versions to compare (v0001 was given as both)."


def test_the_page_of_a_superseded_run_names_the_newest_version(ws):
    """A reviewer who reached v0001 from a link (an e-mail, the history) saw nothing saying it was not the
    model's newest audit, and could approve it unaware of v0003; the model page alone said "superseded"."""
    client = TestClient(ws.app)
    ws.app.state.workspace.throttle._failures.clear()
    login(client, "alice")
    for version in ("v0001", "v0002"):
        page = client.get(f"/m/{ws.model}/{version}").text
        note = re.search(r'<p class="note" id="superseded">(.*?)</p>', page, re.S)
        assert note, version
        assert f'<a href="/m/{ws.model}/v0003">v0003</a> is' in note.group(1) and f"concern {version} only" in note.group(1)
    assert 'id="superseded"' not in client.get(f"/m/{ws.model}/v0003").text


def test_a_login_goes_back_to_the_diff_asked_for_and_a_sign_off_sent_without_a_session_to_its_run_page(ws):
    """The login redirect kept the path alone: a diff link (?a=&b=) opened after logging in as a diff of
    nothing. A sign-off sent once the session had ended (8 hours, a logout elsewhere, a server restart)
    came back, after the login, to the POST-only /sign-off URL: a 405 page, and nothing said the
    decision was not recorded."""
    from urllib.parse import quote

    ws.app.state.workspace.throttle._failures.clear()
    client = TestClient(ws.app)
    diff = f"/m/{ws.model}/diff?a=v0001&b=v0003"
    r = client.get(diff, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next={quote(diff)}"
    page = client.get(r.headers["location"]).text
    action = re.search(r'<form method="post" action="([^"]+)"', page).group(1).replace("&amp;", "&")
    r = client.post(action, data={"username": "alice", "password": PASSWORD, "csrf_token": token(page)},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == diff
    assert client.get(diff).status_code == 200

    anonymous = TestClient(ws.app)
    before = read_signoffs(open_run(ws.out / ws.model / "v0002"))
    r = anonymous.post(f"/m/{ws.model}/v0002/sign-off", data={"decision": "reject", "comment": "late"},
                       follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=/m/{ws.model}/v0002&unsent=1"
    page = anonymous.get(r.headers["location"]).text
    assert "the sign-off you sent was not recorded" in re.search(r'id="unsent"[^>]*>(.*?)</p>', page, re.S).group(1)
    action = re.search(r'<form method="post" action="([^"]+)"', page).group(1).replace("&amp;", "&")
    r = anonymous.post(action, data={"username": "alice", "password": PASSWORD, "csrf_token": token(page)},
                       follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/m/{ws.model}/v0002"
    assert anonymous.get(r.headers["location"]).status_code == 200
    assert read_signoffs(open_run(ws.out / ws.model / "v0002")) == before
    assert 'id="unsent"' not in TestClient(ws.app).get("/login").text
    r = TestClient(ws.app).post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/"


def test_each_due_item_links_the_run_it_concerns(history, tmp_path, monkeypatch):
    """The due page named the model alone, as text: the reviewer it tells to act had to find the model and
    then the run (here v0002, whose approval lapsed, not the newest v0003) by hand."""
    from datetime import datetime, timezone

    from auditor.records.signoff import sign_off

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    sign_off(ws.out / ws.model / "v0002", reviewer="alice", decision="approve", comment="ok", valid_until="2021-06-30",
             now=datetime(2021, 1, 2, tzinfo=timezone.utc))
    client = TestClient(create_app(ws.out), raise_server_exceptions=True)
    assert login(client, "vera").status_code == 303
    page = client.get("/due").text
    row = re.search(r'<tr><td>(.*?)</td><td class="overdue">approval expired</td>', page, re.S)
    assert row and row.group(1) == f'<a href="/m/{ws.model}/v0002">{ws.model} v0002</a>', page
    assert client.get(f"/m/{ws.model}/v0002").status_code == 200


@pytest.mark.parametrize("sent", ["é", "%FF"])
def test_a_csrf_token_with_a_non_ascii_character_is_a_403_not_a_server_error(ws, sent):
    """secrets.compare_digest raises TypeError on a str holding a non-ASCII character: a logged-in
    session's login, logout or sign-off form with such a token (or with %FF, decoded as U+FFFD) was a 500."""
    from urllib.parse import quote

    ws.app.state.workspace.throttle._failures.clear()
    client = TestClient(ws.app, raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    before = read_signoffs(open_run(ws.out / ws.model / "v0001"))
    token_sent = sent if sent.startswith("%") else quote(sent)
    for path, body in (("/login", f"username=alice&password=x&csrf_token={token_sent}"),
                       (f"/m/{ws.model}/v0001/sign-off", f"decision=reject&comment=no&signoffs_seen={len(before)}"
                                                         f"&csrf_token={token_sent}"),
                       ("/logout", f"csrf_token={token_sent}")):
        r = client.post(path, content=body.encode(), headers={"content-type": "application/x-www-form-urlencoded"},
                        follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.text, path
    assert read_signoffs(open_run(ws.out / ws.model / "v0001")) == before
    assert client.get("/").status_code == 200  # still logged in: the logout was refused


def test_a_refused_sign_off_keeps_every_double_hyphen_but_the_forms_option_names(history, tmp_path, monkeypatch):
    """The web cut every ``--`` from a refused sign-off's message (meant for the command's option names, which the
    form calls by its fields' names): a path holding ``--`` was shown cut (``/srv/teamA/...`` for ``/srv/team--A``)."""
    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path / "team--a")
    client = TestClient(create_app(ws.out), raise_server_exceptions=True)
    assert login(client, "alice").status_code == 303
    form = shown(client.get(f"/m/{ws.model}/v0001").text)
    r = client.post(f"/m/{ws.model}/v0001/sign-off", data={"decision": "approve", "comment": "x",
                                                           "valid_until": "2020-01-01", **form})
    assert r.status_code == 400 and "valid until 2020-01-01 is already past" in r.text, r.text
    (ws.out / ws.model / "signoffs").write_text("not a folder")
    r = client.post(f"/m/{ws.model}/v0001/sign-off", data={"decision": "reject", "comment": "x", **form})
    assert r.status_code == 400 and "cannot record the sign-off" in r.text
    assert "team--a" in r.text and "teama" not in r.text, r.text


def test_a_disabled_account_cannot_log_in_its_session_ends_and_its_sign_offs_are_marked(history, tmp_path, monkeypatch):
    """`auditor users disable` had no counterpart: a departed approver kept logging in and signing off.
    Now the login is refused (403, saying so), a session opened before ends at its next request, a
    sign-off it sends is not recorded, and its earlier sign-offs are marked on the run page."""
    from auditor.records.accounts import disable_user
    from auditor.records.registry import open_registry

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    app = create_app(ws.out, key="web")
    client = TestClient(app)
    assert login(client, "alice").status_code == 303
    form = shown(client.get(f"/m/{ws.model}/v0002").text)
    assert client.post(f"/m/{ws.model}/v0002/sign-off", data={"decision": "reject", "comment": "before", **form},
                       follow_redirects=False).status_code == 303
    form = shown(client.get(f"/m/{ws.model}/v0002").text)
    with open_registry(ws.out) as registry:
        disable_user(registry, "alice", "left the bank", by="hr-admin")
    r = client.post(f"/m/{ws.model}/v0002/sign-off", data={"decision": "approve", "comment": "after", **form},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert [s["comment"] for s in read_signoffs(open_run(ws.out / ws.model / "v0002"))] == ["before"]
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = login(TestClient(app), "alice")
    assert r.status_code == 403 and "The account alice was disabled on " in r.text and "can no longer log in" in r.text
    other = TestClient(app)
    assert login(other, "rita").status_code == 303
    page = other.get(f"/m/{ws.model}/v0002").text
    assert re.search(r"alice <span class=\"overdue\">\(account disabled since \d{4}-\d\d-\d\d\)</span>", page), page


def test_an_account_whose_role_was_edited_into_an_unknown_one_browses_without_deciding(history, tmp_path, monkeypatch):
    """A role edited in the registry by hand ('god') answered every run page with 500 (a KeyError); now the
    account browses as it logs in and is offered no decision."""
    import sqlalchemy as sa

    from auditor.records.registry import open_registry, users_table

    monkeypatch.setenv("AUDITOR_KEYS_DIR", str(tmp_path / "keys"))
    ws = make_workspace(history, tmp_path)
    with open_registry(ws.out) as registry, registry.engine.begin() as conn:
        conn.execute(sa.update(users_table).where(users_table.c.name == "alice").values(role="god"))
    client = TestClient(create_app(ws.out, key="web"), raise_server_exceptions=False)
    assert login(client, "alice").status_code == 303
    page = client.get(f"/m/{ws.model}/v0002")
    assert page.status_code == 200 and 'value="approve"' not in page.text
