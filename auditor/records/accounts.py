"""Accounts of the reviewer's workspace (`auditor serve`), kept in the output folder's registry.

`auditor users add NAME --role viewer|reviewer|approver --out reports/`. Passwords are stored as
Argon2id hashes (argon2-cffi, its default parameters) and never written anywhere else.

Roles, each including the one before:

- ``viewer``: browse models, versions, reports, diffs, the due list; download PDFs and evidence;
- ``reviewer``: also record a sign-off that rejects a run (a reviewer can block a model);
- ``approver``: also record approvals (``approve``, ``approve-with-conditions``).

`auditor users disable NAME --reason TEXT` switches an account off (its holder left, a role changed):
it can no longer log in, a session it holds ends at its next request, and no sign-off is recorded
under its name (the web form, or `sign-off --reviewer NAME`); the sign-offs it made before stay valid
and `verify` says they were made by a now-disabled account. `auditor users enable NAME` switches it on
again. Who (the system account that typed the command) and when are recorded in the account's row.
"""

from __future__ import annotations

import re
import getpass
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from auditor.errors import UsageError
from auditor.records.registry import DB_ERRORS, Registry, RegistryError, read_existing, shown_url, users_table
from auditor.records.runs import parse_moment, utc_now, utf8_text

ROLES = ("viewer", "reviewer", "approver")
DECISIONS_BY_ROLE = {
    "viewer": (),
    "reviewer": ("reject",),
    "approver": ("approve", "approve-with-conditions", "reject"),
}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so an unknown name costs as much time as a wrong
    password (computed on first use: a hash takes a noticeable fraction of a second)."""
    return _hasher.hash("not a password of anyone")


STATE = ("disabled_at", "disabled_by", "disabled_reason", "enabled_at", "enabled_by")  # columns added since
MAX_REASON = 1_000  # characters of a disablement's reason


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created_at: str
    disabled_at: str | None = None  # ISO 8601 UTC, the latest `users disable`
    disabled_by: str | None = None
    disabled_reason: str | None = None
    enabled_at: str | None = None  # the latest `users enable`, after a disablement
    enabled_by: str | None = None

    @property
    def disabled(self) -> bool:
        """Disabled since ``disabled_at`` unless enabled after it (a date that does not read, edited by hand,
        leaves the account disabled: nothing shows it was enabled after)."""
        if self.disabled_at is None:
            return False
        off, on = parse_moment(self.disabled_at), parse_moment(self.enabled_at)
        return off is None or on is None or on <= off

    def disabled_when(self, at: str) -> bool:
        """Whether the account was disabled at ``at`` (ISO 8601): within its latest disablement (a time that
        does not read is not known to be within it)."""
        when, off, on = parse_moment(at), parse_moment(self.disabled_at), parse_moment(self.enabled_at)
        if self.disabled_at is None or when is None:
            return False
        if off is None:  # disabled at a time that does not read: not known to be within it
            return False
        return when >= off and (on is None or on <= off or when < on)

    def may_decide(self, decision: str) -> bool:
        return not self.disabled and decision in DECISIONS_BY_ROLE.get(self.role, ())

    @property
    def may_sign(self) -> bool:
        return not self.disabled and bool(DECISIONS_BY_ROLE.get(self.role))

    @property
    def state(self) -> str:
        """How `users list` and `verify` describe the account's state."""
        if self.disabled:
            return f"disabled since {self.disabled_at} by {self.disabled_by} ({self.disabled_reason})"
        if self.enabled_at:
            return f"active (enabled again {self.enabled_at} by {self.enabled_by})"
        return "active"


def _user(row) -> User:
    return User(row.name, row.role, row.created_at, *(getattr(row, c) for c in STATE))


def _columns(registry: Registry) -> list:
    """The accounts' columns, NULL for those an older registry lacks (its accounts are all active)."""
    return registry.columns(users_table, ("name", "role", "created_at", *STATE))


def check_new_user(name: str, role: str, password: str) -> None:
    if not NAME_RE.fullmatch(name or ""):  # not .match: its $ matches before a final newline
        raise UsageError(f"user name {name!r}: 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    if role not in ROLES:
        raise UsageError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password must have at least {MIN_PASSWORD} characters")
    if not utf8_text(password):  # typed in another encoding: a browser's login form sends UTF-8, so it could never log in
        raise UsageError("the password is not valid UTF-8 text (typed in another encoding?)")


def add_user(registry: Registry, name: str, role: str, password: str) -> User:
    check_new_user(name, role, password)
    user = User(name, role, utc_now().isoformat())
    try:
        with registry.engine.begin() as conn:
            if conn.execute(sa.select(users_table.c.name).where(users_table.c.name == name)).first():
                raise UsageError(f"user {name!r} already exists in {registry.url}")
            conn.execute(sa.insert(users_table).values(name=name, role=role, password_hash=_hasher.hash(password),
                                                       created_at=user.created_at))
    except DB_ERRORS as exc:  # a full disk, a read-only or locked registry: exit 2, not a traceback
        raise RegistryError(f"cannot write the registry {shown_url(registry.url)}: "
                            f"{str(getattr(exc, 'orig', None) or exc).splitlines()[0]}; the user was not added") from None
    return user


def get_user(registry: Registry, name: str) -> User | None:
    rows = registry.rows(sa.select(*_columns(registry)).where(users_table.c.name == name))
    return _user(rows[0]) if rows else None


def list_users(registry: Registry) -> list[User]:
    """Every account by name; none in a registry made before accounts were kept (opened by a reader)."""
    if not registry.has_table(users_table):
        return []
    rows = registry.rows(sa.select(*_columns(registry)).order_by(users_table.c.name))
    return [_user(r) for r in rows]


def read_users(out, db: str | None = None) -> list[User]:
    """The accounts of an output folder's registry (or ``db``), read as it is: none where it has no registry."""
    return read_existing(out, db, list_users, [], "no account")


def refuse_disabled(users: list[User], reviewer: str) -> None:
    """A sign-off under the name of a disabled account is refused (exit 2): its holder left, or lost the right."""
    user = account_named(users, reviewer)
    if user is not None and user.disabled:
        raise UsageError(f"the account {user.name!r} is {user.state}: nothing is signed off under its name (its "
                         f"earlier sign-offs stay valid); `auditor users enable {user.name}` switches it on again")


def account_named(users: list[User], reviewer: str) -> User | None:
    """The account a reviewer's name is, letter case aside (`--reviewer Ada` is the account ``ada``)."""
    wanted = (reviewer or "").casefold()
    return next((u for u in users if str(u.name).casefold() == wanted), None)


def who_types() -> str:
    """The system account that runs the command: recorded as who disabled or enabled an account."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name, no passwd entry (a container's numeric user)
        import os

        return f"uid {os.getuid()}"


def disable_user(registry: Registry, name: str, reason: str, by: str | None = None) -> User:
    """Switch an account off: no login, no sign-off from now on; its past sign-offs stay valid."""
    reason = (reason or "").strip()
    if not any(not unicodedata.category(ch).startswith(("C", "Z")) for ch in reason):
        raise UsageError("--reason is required: say why the account is disabled (its holder left, a role changed)")
    if any(unicodedata.category(ch) == "Cc" for ch in reason) or not utf8_text(reason):
        raise UsageError("--reason holds a control character, a line end or text in another encoding: give it on one line")
    if len(reason) > MAX_REASON:
        raise UsageError(f"--reason is {len(reason):,} characters; at most {MAX_REASON:,} are recorded")
    user = _existing(registry, name)
    if user.disabled:
        raise UsageError(f"user {name!r} is already {user.state}; nothing was changed")
    values = {"disabled_at": _now(), "disabled_by": by or who_types(), "disabled_reason": reason}
    _update(registry, name, values, "the account was not disabled")
    return _existing(registry, name)


def enable_user(registry: Registry, name: str, by: str | None = None) -> User:
    """Switch a disabled account on again (its disablement stays recorded beside the enablement)."""
    user = _existing(registry, name)
    if not user.disabled:
        raise UsageError(f"user {name!r} is not disabled ({user.state}); nothing was changed")
    _update(registry, name, {"enabled_at": _now(), "enabled_by": by or who_types()},
            "the account was not enabled")
    return _existing(registry, name)


def _now() -> str:
    """When an account is disabled or enabled, to the microsecond: one disabled and enabled again within a
    second is told apart (a sign-off's time, to the second, falls before or after either)."""
    return datetime.now(timezone.utc).isoformat()


def _existing(registry: Registry, name: str) -> User:
    user = get_user(registry, name) if registry.has_table(users_table) else None
    if user is None:
        raise UsageError(f"no user {name!r} in {shown_url(registry.url)} (`auditor users list` shows the accounts)")
    return user


def _update(registry: Registry, name: str, values: dict, undone: str) -> None:
    try:
        with registry.engine.begin() as conn:
            conn.execute(sa.update(users_table).where(users_table.c.name == name).values(**values))
    except DB_ERRORS as exc:
        raise RegistryError(f"cannot write the registry {shown_url(registry.url)}: "
                            f"{str(getattr(exc, 'orig', None) or exc).splitlines()[0]}; {undone}") from None


def authenticate(registry: Registry, name: str, password: str) -> User | None:
    """The user when ``password`` is theirs, else None (unknown name or wrong password alike). A
    disabled account is returned too (its ``disabled``): the caller refuses it, and may say why."""
    rows = registry.rows(sa.select(*_columns(registry), users_table.c.password_hash).where(users_table.c.name == name))
    row = rows[0] if rows else None
    try:
        _hasher.verify(row.password_hash if row else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(row.password_hash) and not _user(row).disabled:
        with registry.engine.begin() as conn:
            conn.execute(sa.update(users_table).where(users_table.c.name == name)
                         .values(password_hash=_hasher.hash(password)))
    return _user(row)
