"""`auditor serve`: a reviewer's workspace over an output folder (Starlette + Jinja, served by uvicorn).

Pages (every one but /login needs a session; see auditor/web/security.py):

    /                                   models: latest version, status, sign-off, re-audit due
    /m/{model}                          its versions: status, policy, date, sign-off; its re-audit as /due judges it
    /m/{model}/{version}                one run: summary, files, sign-offs, sign-off form
    /m/{model}/{version}/report         the run's report.html (with the report's own CSP)
    /m/{model}/{version}/files/{file}   a file the run's manifest lists (PDF, evidence CSVs, ...)
    /m/{model}/{version}/signed/{n}     the signed PDF of sign-off #n
    /m/{model}/{version}/sign-off       POST: the sign-off form (auditor/records/signoff.py)
    /m/{model}/diff?a=v0001&b=v0002     the diff of two versions (computed, not written)
    /due                                the due list
    /login, /logout

Everything is read from the run folders and the registry; the only writes are sign-offs, made by
the same function as `auditor sign-off`, in the name of the logged-in user.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from auditor.errors import AuditorError, ResultFileError, UsageError
from auditor.records.accounts import DECISIONS_BY_ROLE, User, authenticate, get_user, list_users
from auditor.records.registry import Registry, RegistryError, database_url, refuse_foreign, registry_url, sqlite_file
from auditor.records.runs import DEFAULT_DB_NAME, ENV_DB, read_signoffs
from auditor.records.schedule import due, judged_signoff, reaudit
from auditor.render.controls import AsTyped, show_controls
from auditor.web.catalogue import Catalogue, NotFound, listed_file, one_model, signed_pdf, today
from auditor.web.security import COMMON_HEADERS, PAGE_CSP, LoginThrottle, csrf_ok, csrf_token

SESSION_COOKIE = "auditor_session"
SESSION_MAX_AGE = 8 * 3600
PUBLIC = ("/login", "/static/web.css")


def templates_dir() -> Path:
    packaged = resources.files("auditor") / "_data" / "templates" / "web"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "templates" / "web"


class Workspace:
    """The state of one server: where it reads, who may do what, the login throttle."""

    def __init__(self, out: Path, db: str | None, key: str | None):
        self.out, self.db, self.key = Path(out), db, key
        self.registry = Registry(database_url(out, db))
        self.catalogue = Catalogue(self.registry, self.out)
        self.throttle = LoginThrottle()
        # live sessions, id -> when it ends: the cookie is signed but held by the client, so logging out
        # must end the session here too (a copied cookie could still sign off for 8 hours)
        self.sessions: dict[str, float] = {}
        # control and bidi characters (a sign-off comment's U+202E) shown as escapes, as in report.html
        self.env = Environment(loader=FileSystemLoader(str(templates_dir())), autoescape=select_autoescape(default=True),
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, finalize=show_controls)

    def open_session(self) -> str:
        """A new session's id, kept until it ends (its cookie's age) or its user logs out."""
        now = time.monotonic()
        self.sessions = {sid: end for sid, end in self.sessions.items() if end > now}
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = now + SESSION_MAX_AGE
        return sid

    def live(self, sid: object) -> bool:
        return isinstance(sid, str) and self.sessions.get(sid, 0.0) > time.monotonic()

    def page(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(
            user=request.scope.get("user"), csrf_token=csrf_token(request), request_path=request.url.path, **context)
        return HTMLResponse(html, status_code=status_code, headers={"Content-Security-Policy": PAGE_CSP})


def allowed_hosts(host: str) -> list[str]:
    """The Host headers a server bound to ``host`` answers: its own address and, on a loopback address,
    localhost's names. Any other name reaching a loopback server is a page that re-bound its domain
    to 127.0.0.1 (DNS rebinding) to drive the workspace from a reviewer's browser. A server on every
    interface (0.0.0.0, ::) is reached by whatever names the network gives it: any is answered."""
    if host in ("0.0.0.0", "::", ""):
        return ["*"]
    local = ["localhost", "127.0.0.1", "::1", "[::1]"] if host in ("localhost", "::1") or host.startswith("127.") else []
    return [host, f"[{host}]" if ":" in host else host, *local]


# the sign-off command's options as the form names its fields; nothing else in a message is touched (every `--` had
# been cut, a path's or a command's to run included)
_FORM_FIELDS = {"--valid-until": "valid until", "--decision": "decision", "--comment": "comment",
                "--conditions": "conditions", "--reviewer": "reviewer"}


def _in_form_words(message: str) -> str:
    return re.sub(r"(?<![\w/.-])(" + "|".join(_FORM_FIELDS) + r")\b(?!-)", lambda m: _FORM_FIELDS[m.group(0)], message)


def create_app(out: str | Path, db: str | None = None, key: str | None = None, secure: bool = False,
               host: str | None = None) -> Starlette:
    """``host``: the address the server listens on (:func:`allowed_hosts`); None answers any Host header."""
    out = Path(out)
    if not out.is_dir() and not db:
        raise UsageError(f"{out} {'is a file, not a folder' if out.exists() else 'does not exist'}: nothing to serve (give "
                         "--out, the folder `auditor run` wrote to)")
    named = sqlite_file(registry_url(out, db)) if db or os.environ.get(ENV_DB) else None
    if named is not None and not (named.is_file() and named.stat().st_size > 0):  # a mistyped --db would be
        # created empty (or an empty file filled) and served as no audits
        what = "is an empty file, not a registry" if named.is_file() else "does not exist"
        raise UsageError(f"the registry {named} {what} (a mistyped --db or {ENV_DB}?); serve reads a registry "
                         "and never creates one")
    if named is not None:  # another application's database had been given the registry's tables
        refuse_foreign(registry_url(out, db), named, out, "serve reads a registry and never creates one")
    own = out / DEFAULT_DB_NAME
    if not (db or os.environ.get(ENV_DB)) and not (own.is_file() and own.stat().st_size > 0):
        # created empty here, it read as a registry of no audits: `history` and `due` ("nothing due") ignored the runs
        raise UsageError(f"{out} has no registry ({DEFAULT_DB_NAME}), which holds the accounts that log in; serve reads a "
                         f"registry and never creates one: add an account with `auditor users add NAME --role approver "
                         f"--out {out}` (which indexes the runs too), then serve again")
    if not (db or os.environ.get(ENV_DB)):  # another application's file in the output folder had been given the tables
        refuse_foreign(registry_url(out, db), own, out, "serve reads a registry and never creates one", named=False)
    ws = Workspace(out, db, key)
    _check_indexed(ws, out, db)
    if key:
        from auditor.records.signatures import load_signing_key

        load_signing_key(ws.registry, key)  # refuse to start with a key that cannot sign

    async def headers(request: Request, call_next):
        response = await call_next(request)
        for header, value in COMMON_HEADERS.items():  # every answer, the login redirect, the 400 and 503 pages too
            response.headers.setdefault(header, value)
        return response

    async def _authorised(request: Request, call_next) -> Response:
        path = request.url.path
        if path not in PUBLIC:
            name = request.session.get("user") if ws.live(request.session.get("sid")) else None
            try:
                user = await run_in_threadpool(get_user, ws.registry, name) if name else None
            except RegistryError as exc:  # outside the routes: their exception handlers do not see it
                return _registry_unreadable(ws, request, exc)
            if user is None or user.disabled:  # an account disabled since the login: its session ends here
                request.session.pop("user", None)
                if request.method in ("GET", "HEAD"):  # back to the page asked for, its query too (a diff's ?a=&b=)
                    target = f"{path}?{request.url.query}" if request.url.query else path
                    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
                # a form sent without a live session (it ended, its user logged out elsewhere, the server restarted):
                # nothing was recorded. Back to the page the sign-off form is on, not to a POST-only URL (a 405)
                if path.startswith("/m/") and path.endswith("/sign-off"):
                    return RedirectResponse(f"/login?next={quote(path.removesuffix('/sign-off'))}&unsent=1", status_code=303)
                return RedirectResponse("/login?next=/", status_code=303)
            request.scope["user"] = user
        return await call_next(request)

    async def login(request: Request) -> Response:
        nxt = request.query_params.get("next", "/")
        nxt = nxt if nxt.startswith("/") and not nxt.startswith(("//", "/\\")) else "/"  # no redirect off-site
        if request.method == "GET":
            unsent = request.query_params.get("unsent") == "1"
            return ws.page(request, "login.html.j2", next=nxt, error=None, unsent=unsent)
        form = await request.form()
        if not csrf_ok(request, form.get("csrf_token")):
            return _forbidden(ws, request, "The form expired or did not come from this page (missing CSRF token).")
        name = str(form.get("username", ""))[:64]
        keys = (f"addr:{request.client.host if request.client else '?'}", f"user:{name}")
        wait = ws.throttle.retry_after(*keys)
        if wait:
            resp = ws.page(request, "login.html.j2", 429, next=nxt, unsent=False,
                           error=f"Too many failed logins: try again in {wait // 60 + 1} minutes.")
            resp.headers["Retry-After"] = str(wait)
            return resp
        user = await run_in_threadpool(authenticate, ws.registry, name, str(form.get("password", "")))
        if user is None:
            ws.throttle.failed(*keys)
            return ws.page(request, "login.html.j2", 401, next=nxt, unsent=False, error="Unknown user or wrong password.")
        if user.disabled:  # the right password, but the account was switched off (`auditor users disable`)
            return ws.page(request, "login.html.j2", 403, next=nxt, unsent=False,
                           error=f"The account {user.name} was disabled on {str(user.disabled_at)[:10]}; it can no longer "
                                 "log in. Ask whoever manages the accounts (`auditor users enable`).")
        ws.throttle.succeeded(keys[1])
        request.session.clear()
        request.session.update(user=user.name, csrf=secrets.token_urlsafe(32), sid=ws.open_session())
        return RedirectResponse(nxt, status_code=303)

    async def logout(request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request, form.get("csrf_token")):
            return _forbidden(ws, request, "Missing or wrong CSRF token.")
        ws.sessions.pop(request.session.get("sid"), None)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    def models(request: Request) -> Response:
        day = today()
        return ws.page(request, "models.html.j2", models=ws.catalogue.models(), today=day.isoformat(), today_date=day)

    def model(request: Request) -> Response:
        folder = request.path_params["model"]
        rows = ws.catalogue.versions(folder)
        model_rows = one_model(rows)
        schedule, day = reaudit(model_rows), today()  # as `due` judges it: the model's one re-audit date
        return ws.page(request, "model.html.j2", folder=folder, rows=rows, today=day.isoformat(), today_date=day,
                       schedule=schedule, judged=judged_signoff(model_rows))

    def run(request: Request, error: str | None = None, status_code: int = 200, form: dict | None = None) -> Response:
        folder, version = request.path_params["model"], request.path_params["version"]
        from auditor.render.scope import report_scope
        from auditor.records.signoff import approval_limit

        row, run_ = ws.catalogue.run(folder, version)
        result = run_.audit_result()
        scope = report_scope(result)  # statuses as the report shows them (INFO)
        files = sorted((run_.manifest.get("files") or {}).keys())
        versions = [r["version"] for r in ws.catalogue.versions(folder)]
        user: User = request.scope["user"]
        findings = _verification(run_, ws.db)
        return ws.page(request, "run.html.j2", status_code=status_code, folder=folder, row=row, result=result, files=files,
                       findings=findings,
                       shown=scope.shown, overall=scope.overall,
                       signoffs=read_signoffs(run_), versions=versions, decisions=DECISIONS_BY_ROLE.get(user.role, ()),
                       disabled={str(u.name).casefold(): str(u.disabled_at)[:10] for u in list_users(ws.registry) if u.disabled},
                       error=error, signing_key=ws.key, min_date=today().isoformat(),
                       max_date=approval_limit(run_, today())[0].isoformat(),
                       form={k: AsTyped(v) for k, v in (form or {}).items()})  # put back as typed

    def report(request: Request) -> Response:
        from auditor.render.html import CSP

        _, run_ = ws.catalogue.run(request.path_params["model"], request.path_params["version"])
        path = listed_file(run_, "report.html")
        return FileResponse(path, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": CSP})

    def file(request: Request) -> Response:
        _, run_ = ws.catalogue.run(request.path_params["model"], request.path_params["version"])
        rel = request.path_params["file"]
        path = listed_file(run_, rel)
        return FileResponse(path, filename=Path(rel).name, content_disposition_type="attachment",
                            headers={"Content-Security-Policy": "default-src 'none'; sandbox"})

    def signed(request: Request) -> Response:
        _, run_ = ws.catalogue.run(request.path_params["model"], request.path_params["version"])
        n = request.path_params["n"]  # a string: Starlette's int converter raised on 4,300 digits and more (a 500)
        if not (n.isascii() and n.isdigit() and len(n) <= 9):
            raise NotFound(f"no sign-off #{n}")
        path = signed_pdf(run_, int(n))
        return FileResponse(path, media_type="application/pdf", filename=path.name,
                            headers={"Content-Security-Policy": "default-src 'none'; sandbox"})

    async def sign_off(request: Request) -> Response:
        from auditor.records.signoff import SignOffRefused, SignOffSuperseded, sign_off as record_sign_off

        form = await request.form()
        if not csrf_ok(request, form.get("csrf_token")):
            return _forbidden(ws, request, "The sign-off was refused: missing or wrong CSRF token.")
        user: User = request.scope["user"]
        folder, version = request.path_params["model"], request.path_params["version"]
        _, run_ = ws.catalogue.run(folder, version)
        fields = {k: form.get(k, "") for k in ("decision", "conditions", "comment", "valid_until", "signoffs_seen")}
        if not all(isinstance(v, str) for v in fields.values()):  # a file upload: its repr was recorded as the comment
            sent = ", ".join(k for k, v in fields.items() if not isinstance(v, str))
            return run(request, f"The form sent a file as {sent}; type the text into the form.", 400)
        values = {k: v.strip() for k, v in fields.items()}
        if not user.may_sign:
            return _forbidden(ws, request, f"Your role ({user.role}) may not sign off.")
        if values["decision"] not in DECISIONS_BY_ROLE["approver"]:  # every decision: a malformed form, not a role matter
            return run(request, f"Choose a decision: {', '.join(DECISIONS_BY_ROLE['approver'])}.", 400, values)
        if not user.may_decide(values["decision"]):
            return _forbidden(ws, request, f"Your role ({user.role}) may not record the decision {values['decision']!r}.")
        if values["decision"] == "approve-with-conditions" and not values["conditions"]:
            return run(request, "State the conditions of the approval.", 400, values)
        # the number of sign-offs the form was shown: one made since then is not overturned unseen
        seen, typed = values["signoffs_seen"], {k: v for k, v in values.items() if k != "signoffs_seen"}
        if not (seen.isascii() and seen.isdigit() and len(seen) <= 9):  # re-shown against the sign-offs as they are now
            return run(request, "The form did not say which sign-offs it was shown (its signoffs_seen field is missing "
                       "or not a number); nothing was recorded. Read the sign-offs above and submit again.", 400, typed)
        try:
            await run_in_threadpool(
                record_sign_off, run_.path, reviewer=user.name, decision=values["decision"], comment=values["comment"],
                valid_until=values["valid_until"] or None, db=ws.db, conditions=values["conditions"] or None, key=ws.key,
                seen=int(seen))
        except SignOffSuperseded as exc:  # the form is shown again with the newer sign-offs, and counts them now
            return run(request, str(exc), 409, typed)
        except SignOffRefused as exc:  # the findings, not the server's path to the run
            return run(request, "This run failed verification; an altered audit cannot be signed: "
                       + "; ".join(exc.findings) + ".", 409, values)
        except AuditorError as exc:
            return run(request, _in_form_words(str(exc)), 400, values)
        return RedirectResponse(f"/m/{quote(folder)}/{quote(version)}#signoffs", status_code=303)

    def diff(request: Request) -> Response:
        from auditor.render.html import CSP
        from auditor.records.diff import checked_diff, render_diff_html

        folder = request.path_params["model"]
        a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
        if not (a and b):  # the form's two versions, or a link cut short
            raise HTTPException(400, f"Choose two versions to compare: /m/{folder}/diff?a=v0001&b=v0002 "
                                     f"({'neither was given' if not (a or b) else 'only one was given'}).")
        _, run_a = ws.catalogue.run(folder, a)
        _, run_b = ws.catalogue.run(folder, b)
        if run_a.path == run_b.path:
            raise HTTPException(400, f"Choose two different versions to compare ({a} was given as both).")
        run_a.audit_result(), run_b.audit_result()
        try:
            data = checked_diff(run_a, run_b, db=ws.db)  # signatures against the served registry's keys
        except UsageError as exc:  # the registry is busy: nothing is known about the runs
            raise HTTPException(503, f"The two runs could not be verified: {exc}") from None
        html = render_diff_html(data)
        return HTMLResponse(html, headers={"Content-Security-Policy": CSP})

    def due_list(request: Request) -> Response:
        # each item with the run it concerns (its model folder and version), for a link to the page to act on
        items = [(i, Path(i.run_path).parent.name, Path(i.run_path).name) for i in due(ws.catalogue.all_rows())]
        return ws.page(request, "due.html.j2", items=items)

    def stylesheet(request: Request) -> Response:
        return FileResponse(templates_dir() / "web.css", media_type="text/css")

    async def not_found(request: Request, exc: Exception) -> Response:
        # what is missing, as the catalogue names it (a model, a version, a run folder deleted after it was
        # recorded, a listed file removed since): never the server's paths
        message = f"{exc}." if isinstance(exc, NotFound) and str(exc) else "There is no such page or run."
        return ws.page(request, "error.html.j2", 404, title="Not found", message=message)

    async def unreadable_run(request: Request, exc: ResultFileError) -> Response:
        problems = "; ".join(f"{p.location}: {p.message}" if p.location else p.message for p in exc.problems[:5])
        name = Path(exc.source).name if exc.source else "result.json"  # result.json, manifest.json, a sign-off log
        what = "an audit result" if name == "result.json" else "what it should be"
        return ws.page(request, "error.html.j2", 422, title="This run cannot be shown",
                       message=f"Its {name} does not read as {what} ({problems}). It was altered or damaged "
                               "after the run: `auditor verify` on the run folder names what changed.")

    async def registry_error(request: Request, exc: RegistryError) -> Response:
        return _registry_unreadable(ws, request, exc)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return ws.page(request, "error.html.j2", exc.status_code, title="Error", message=exc.detail)

    routes = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", models),
        Route("/due", due_list),
        Route("/static/web.css", stylesheet),
        Route("/m/{model}", model),
        Route("/m/{model}/diff", diff),
        Route("/m/{model}/{version}", run),
        Route("/m/{model}/{version}/report", report),
        Route("/m/{model}/{version}/files/{file:path}", file),
        Route("/m/{model}/{version}/signed/{n}", signed),
        Route("/m/{model}/{version}/sign-off", sign_off, methods=["POST"]),
    ]
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32), session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE, same_site="strict", https_only=secure),
            Middleware(BaseHTTPMiddleware, dispatch=headers),
            # before the login redirect: a rebound host name gets 400 on every path, not a 303 to /login
            *([Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(host))] if host is not None else []),
            Middleware(BaseHTTPMiddleware, dispatch=_authorised),
        ],
        exception_handlers={NotFound: not_found, 404: not_found, HTTPException: http_error,
                            ResultFileError: unreadable_run, RegistryError: registry_error},
    )
    app.state.workspace = ws
    return app


def _verification(run_, db: str | None) -> list[str]:
    """What `auditor verify` reports about the run (empty when it verifies): the run page shows it,
    so a run altered after it was written (its result, its manifest, a forged sign-off or signature)
    is not shown as the audit that was signed."""
    from auditor.records.verify import verify_run

    try:
        return [str(f) for f in verify_run(run_.path, db=db).findings]
    except AuditorError as exc:  # the registry is busy, a --db that does not exist: unverified, said so
        return [f"the run could not be verified: {exc}"]


def _check_indexed(ws: Workspace, out: Path, db: str | None) -> None:
    """Refuse to serve an output folder whose runs the registry does not index under it: the pages
    would list no model and the due page say nothing is due. That is the case once the folder was
    moved or copied with its registry (every row names the old place), or when its runs were
    recorded in another registry than the one served."""
    from auditor.records.runs import iter_runs

    if ws.catalogue.all_rows():
        return
    stored = next(iter_runs(out), None)
    if stored is None:
        return
    ws.registry.close()
    raise UsageError(f"the registry indexes no run under {out.resolve()}, although {stored.path} is a stored run: the "
                     "output folder was moved or copied with its registry (its rows name the old place), or its runs "
                     "were recorded in another registry. Index them with `auditor history --rebuild --out "
                     f"{out}`{' and the same --db' if db else ''} (accounts and keys are kept), then serve again")


def _registry_unreadable(ws: Workspace, request: Request, exc: RegistryError) -> Response:
    """The registry (runs, accounts) cannot be read: damaged, replaced or its database down. 503: the
    run folders are intact, and the page can be shown again once the registry is repaired."""
    return ws.page(request, "error.html.j2", 503, title="The registry cannot be read", message=str(exc))


def _forbidden(ws: Workspace, request: Request, message: str) -> Response:
    return ws.page(request, "error.html.j2", 403, title="Forbidden", message=message)


def listen(host: str, port: int):
    """A socket bound to ``host:port`` (port 0: one the system picks), before anything says it serves:
    an address in use is a usage error."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def run_server(app: Starlette, sock, tls_cert: Path | None = None, tls_key: Path | None = None) -> None:
    """Serve on the bound socket (:func:`listen`) until interrupted."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False,
                            ssl_certfile=str(tls_cert) if tls_cert else None, ssl_keyfile=str(tls_key) if tls_key else None)
    uvicorn.Server(config).run(sockets=[sock])
