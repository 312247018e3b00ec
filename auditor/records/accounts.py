"""Accounts of the reviewer's workspace (`auditor serve`), kept in the output folder's registry.

`auditor users add NAME --role viewer|reviewer|approver --out reports/`. Passwords are stored as
Argon2id hashes (argon2-cffi, its default parameters) and never written anywhere else.

Roles, each including the one before:

- ``viewer``: browse models, versions, reports, diffs, the due list; download PDFs and evidence;
- ``reviewer``: also record a sign-off that rejects a run (a reviewer can block a model);
- ``approver``: also record approvals (``approve``, ``approve-with-conditions``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from auditor.errors import UsageError
from auditor.records.registry import DB_ERRORS, Registry, RegistryError, shown_url, users_table
from auditor.records.runs import utc_now, utf8_text

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


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created_at: str

    def may_decide(self, decision: str) -> bool:
        return decision in DECISIONS_BY_ROLE.get(self.role, ())

    @property
    def may_sign(self) -> bool:
        return bool(DECISIONS_BY_ROLE.get(self.role))


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
    rows = registry.rows(sa.select(users_table.c.name, users_table.c.role, users_table.c.created_at)
                         .where(users_table.c.name == name))
    return User(rows[0].name, rows[0].role, rows[0].created_at) if rows else None


def list_users(registry: Registry) -> list[User]:
    """Every account by name; none in a registry made before accounts were kept (opened by a reader)."""
    if not registry.has_table(users_table):
        return []
    rows = registry.rows(sa.select(users_table.c.name, users_table.c.role, users_table.c.created_at)
                         .order_by(users_table.c.name))
    return [User(r.name, r.role, r.created_at) for r in rows]


def authenticate(registry: Registry, name: str, password: str) -> User | None:
    """The user when ``password`` is theirs, else None (unknown name or wrong password alike)."""
    rows = registry.rows(sa.select(users_table).where(users_table.c.name == name))
    row = rows[0] if rows else None
    try:
        _hasher.verify(row.password_hash if row else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        with registry.engine.begin() as conn:
            conn.execute(sa.update(users_table).where(users_table.c.name == name)
                         .values(password_hash=_hasher.hash(password)))
    return User(row.name, row.role, row.created_at)
