"""Signed sign-offs: Ed25519 keys (the `cryptography` package).

`auditor keys new NAME --out reports/` writes the private key to ``<keys dir>/NAME.pem`` (PKCS#8,
mode 0600; the keys dir is ``$AUDITOR_KEYS_DIR``, default ``~/.config/auditor/keys``, never the
output folder) and registers the public key under NAME in the output folder's registry.

A sign-off made with a key (`auditor sign-off --key NAME`, or the web sign-off of a server started
with `auditor serve --key NAME`) carries ``signature``: the key's name and fingerprint and the
Ed25519 signature of :func:`signed_payload` — canonical JSON of the run's manifest hash, the
decision and the date, with the rest of what the record asserts (who, about which run, comment,
conditions, validity, the previous record); ``signed_pdf_signature`` signs the signed report's hash
with the same key. `auditor verify` checks every signature against the
registered public keys: a signature that does not match and a key the registry does not know are
findings (exit 1); a sign-off without a signature is reported as unsigned.

`auditor keys revoke NAME --reason TEXT [--at ISO-DATETIME]` records that a key signs nothing from a
moment on (now, a past moment: the leak; a future one: an expiry) in the registry's
``auditor_key_revocations`` table. Sign-offs refuse a revoked or expired key; `auditor verify` names a
signature whose ``signed_at`` is at or after its key's revocation (a finding) and says of one made
before it that the key was revoked later (information). ``signed_at`` is what the signer wrote:
:func:`revocation_problem` also names a record that claims a time before the revocation while it
follows, in its log's hash chain, a record signed after it (a backdated record).
"""

from __future__ import annotations

import base64
import json
import os
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auditor.errors import UsageError
from auditor.hashing import sha256_bytes
from auditor.records.accounts import NAME_RE
from auditor.records.registry import DB_ERRORS, Registry, RegistryError, key_revocations_table, shown_url, signing_keys_table
from auditor.records.runs import parse_moment, utc_now, utf8_text

ENV_KEYS_DIR = "AUDITOR_KEYS_DIR"
ALGORITHM = "ed25519"
# What a signature covers. The manifest hash, the decision and the date are the point; the rest
# binds who signed what, so that no field of the record can be changed under a valid signature.
SIGNED_FIELDS = ("manifest_sha256", "decision", "signed_at", "model", "version", "run_id", "reviewer", "comment",
                 "conditions", "valid_until", "n", "previous_record_sha256", "report_pdf_sha256")


def keys_dir() -> Path:
    return Path(os.environ.get(ENV_KEYS_DIR) or Path.home() / ".config" / "auditor" / "keys")


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public: Ed25519PublicKey) -> str:
    return sha256_bytes(_raw(public))


def new_key(registry: Registry, name: str, directory: Path | None = None) -> tuple[Path, str]:
    """Create a key pair: the private key to ``directory/NAME.pem``, the public key into the
    registry. Returns (private key path, fingerprint)."""
    if not NAME_RE.fullmatch(name or ""):  # not .match: its $ matches before a final newline
        raise UsageError(f"key name {name!r}: 1 to 64 letters, digits, '.', '_', '@' or '-'")
    directory = directory or keys_dir()
    target = directory / f"{name}.pem"
    if target.exists():
        raise UsageError(f"{target} already exists: choose another key name")
    if registered_keys(registry).get(name):
        raise UsageError(f"a key named {name!r} is already registered in {registry.url}")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:  # the keys folder is a file, under a file, or where nothing can be made
        raise UsageError(f"cannot keep a private key in {directory} ({exc.strerror or exc}); set {ENV_KEYS_DIR} "
                         "to a folder you can write") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
    except OSError as exc:  # a full disk: an empty key file would keep the name taken and sign nothing
        target.unlink(missing_ok=True)
        raise UsageError(f"cannot keep a private key in {directory} ({exc.strerror or exc}); nothing was created") from None
    public = key.public_key()
    try:
        with registry.engine.begin() as conn:
            conn.execute(sa.insert(signing_keys_table).values(
                name=name, algorithm=ALGORITHM, public_key=base64.b64encode(_raw(public)).decode("ascii"),
                fingerprint=fingerprint(public), created_at=utc_now().isoformat()))
    except Exception as exc:
        target.unlink(missing_ok=True)  # nothing half-made: no private key without its registered public key
        if isinstance(exc, DB_ERRORS):  # a full disk, a read-only or locked registry: exit 2, not a traceback
            raise RegistryError(f"cannot write the registry {shown_url(registry.url)}: "
                                f"{str(getattr(exc, 'orig', None) or exc).splitlines()[0]}; the key was not created") from None
        raise
    return target, fingerprint(public)


def registered_keys(registry: Registry) -> dict[str, Ed25519PublicKey]:
    """The public keys registered by name. Raises :class:`RegistryError` when the registry, or a
    key in it, cannot be read (a damaged file, an edited row)."""
    keys = {}
    for row in registry.rows(sa.select(signing_keys_table.c.name, signing_keys_table.c.public_key)):
        try:
            keys[row.name] = Ed25519PublicKey.from_public_bytes(base64.b64decode(str(row.public_key), validate=True))
        except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
            raise RegistryError(f"the registry {shown_url(registry.url)} holds an unreadable public key for "
                                f"{str(row.name)!r} ({exc})") from None
    return keys


def read_registered_keys(out: Path, db: str | None = None) -> dict[str, Ed25519PublicKey]:
    """The registered public keys of an output folder, read without creating a registry."""
    return read_keyring(out, db)[0]


def read_keyring(out: Path, db: str | None = None) -> tuple[dict[str, Ed25519PublicKey], dict[str, Revocation]]:
    """The registered public keys of an output folder and their revocations (:func:`revocations`),
    read without creating a registry or writing to one: a registry made before either table was
    added is read as holding none (its tables are created by the next command that writes it)."""
    def read(registry: Registry):
        if not registry.has_table(signing_keys_table):
            return {}, {}
        return registered_keys(registry), revocations(registry)

    from auditor.records.registry import read_existing

    return read_existing(out, db, read, ({}, {}), "no registered key")


def load_signing_key(registry: Registry, name: str, directory: Path | None = None,
                     at: datetime | None = None) -> Ed25519PrivateKey:
    """The private key NAME from the keys dir, checked against the public key registered under NAME
    and refused when the key is revoked or expired at ``at`` (default now)."""
    if not NAME_RE.fullmatch(name or ""):
        raise UsageError(f"{name!r} is not a key name (`auditor keys new` names a key by letters, digits, '.', '_', '@' "
                         "and '-'); give the name a key was created with, not a path")
    path = (directory or keys_dir()) / f"{name}.pem"
    if path.exists() and not path.is_file():
        raise UsageError(f"{path} is not a file (a folder or a device where the private key {name!r} should be)")
    if not path.is_file():
        raise UsageError(f"no private key {name!r} in {path.parent} (create one with `auditor keys new {name}`)")
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        mode = path.stat().st_mode
        if mode & 0o077:  # as ssh refuses such a key: anyone who can read it can sign as its owner
            raise UsageError(f"{path} can be read or written by other users (mode {mode & 0o777:o}); a private key must "
                             f"be its owner's alone: chmod 600 {path}")
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise UsageError(f"cannot read the private key {path} ({exc.strerror or type(exc).__name__})") from None
    except UnsupportedAlgorithm:  # a curve or algorithm the library does not know (secp112r1, SM2)
        raise UsageError(f"{path}: not an Ed25519 private key (an algorithm this build cannot read)") from None
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{path}: not a readable private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path}: not an Ed25519 private key")
    registered = registered_keys(registry).get(name)
    if registered is None:
        raise UsageError(f"key {name!r} is not registered in {registry.url}: its sign-offs could not be verified")
    if _raw(registered) != _raw(key.public_key()):
        raise UsageError(f"{path} does not match the public key registered as {name!r} in {registry.url}")
    refuse_revoked(revocations(registry).get(fingerprint(registered)), at or utc_now())
    return key


# --- revocation and expiry -------------------------------------------------------------------------

MAX_REASON = 1_000  # characters of a revocation's reason


@dataclass(frozen=True)
class Revocation:
    """A key's revocation (or expiry): from ``effective_at`` on, it signs nothing."""

    name: str
    fingerprint: str
    effective_at: datetime  # aware, UTC
    reason: str
    recorded_at: datetime  # aware, UTC

    @property
    def expiry(self) -> bool:
        """Recorded before it took effect (`--at` in the future): an expiry, not a revocation."""
        return self.effective_at > self.recorded_at

    def status(self, now: datetime) -> str:
        """``revoked since …``, ``expired since …`` or ``expires …`` (as of ``now``)."""
        if self.effective_at > now:
            return f"expires {self.effective_at.isoformat()}"
        return f"{'expired' if self.expiry else 'revoked'} since {self.effective_at.isoformat()}"

    def said(self, now: datetime) -> str:
        return f"{self.status(now)} (recorded {self.recorded_at.isoformat()}: {self.reason})"


def refuse_revoked(revocation: Revocation | None, at: datetime) -> None:
    """Signing at ``at`` with a key revoked or expired by then is a usage error (exit 2)."""
    if revocation is not None and revocation.effective_at <= at:
        what = "expired" if revocation.expiry else "was revoked"
        raise UsageError(f"key {revocation.name!r} {what} at {revocation.effective_at.isoformat()} ({revocation.reason}): "
                         "it signs nothing from then on, and nothing was recorded; create another key with "
                         "`auditor keys new` and sign with it")


def parse_instant(text: str, option: str = "--at") -> datetime:
    """An ISO 8601 date and time with its UTC offset (``2026-12-01T09:00:00+01:00``, ``…Z``), as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise UsageError(f"{option} must be a date and time as ISO 8601 with a UTC offset "
                         f"(2026-12-01T09:00:00+00:00 or 2026-12-01T09:00:00Z), got {text!r}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise UsageError(f"{option} {text!r} has no UTC offset: the moment a key stops signing must not depend on a "
                         "machine's time zone; add one (2026-12-01T09:00:00+00:00, or Z for UTC)")
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise UsageError(f"{option} {text!r} is not a moment a date can hold in UTC") from None


def revocations(registry: Registry) -> dict[str, Revocation]:
    """Each revoked key's earliest revocation, by the key's fingerprint (the key itself, under whatever
    name a signature gives it: the name in a signature is not signed). A registry without the table
    (made before revocations were recorded, opened by a reader) holds none. A row that cannot be read
    (an edited date) is a :class:`RegistryError`: a revocation is never silently ignored."""
    if not registry.has_table(key_revocations_table):
        return {}
    t = key_revocations_table
    found: dict[str, Revocation] = {}
    for row in registry.rows(sa.select(t.c.name, t.c.fingerprint, t.c.effective_at, t.c.reason, t.c.recorded_at)
                             .order_by(t.c.id)):
        effective, recorded = parse_moment(str(row.effective_at)), parse_moment(str(row.recorded_at))
        if effective is None or recorded is None:
            raise RegistryError(f"the registry {shown_url(registry.url)} holds an unreadable revocation of key "
                                f"{str(row.name)!r} (effective {str(row.effective_at)!r}, recorded {str(row.recorded_at)!r})")
        revocation = Revocation(str(row.name), str(row.fingerprint), effective, str(row.reason), recorded)
        if revocation.fingerprint not in found or effective < found[revocation.fingerprint].effective_at:
            found[revocation.fingerprint] = revocation
    return found


def revoke_key(registry: Registry, name: str, reason: str, at: str | datetime | None = None,
               now: datetime | None = None) -> Revocation:
    """Record that key NAME signs nothing from ``at`` on (default: now; a future ``at`` is an expiry).
    A key revoked already is refused; one that only expires later may be revoked earlier (a key that
    leaked before its expiry), never later."""
    now = now or utc_now()
    reason = (reason or "").strip()
    if not utf8_text(reason):
        raise UsageError("--reason is not valid UTF-8 text (a byte sequence of another encoding?)")
    if not any(not unicodedata.category(ch).startswith(("C", "Z")) for ch in reason):
        raise UsageError("--reason is required: say why the key stops signing (leaked, rotated, its holder left)")
    if any(unicodedata.category(ch) == "Cc" for ch in reason):
        raise UsageError("--reason holds a control character or a line end: give the reason on one line")
    if len(reason) > MAX_REASON:
        raise UsageError(f"--reason is {len(reason):,} characters; at most {MAX_REASON:,} are recorded")
    effective = parse_instant(at) if isinstance(at, str) else (at or now)
    if effective.tzinfo is None or effective.utcoffset() is None:
        raise UsageError("the moment a key stops signing needs its UTC offset")
    effective = effective.astimezone(timezone.utc)
    if not NAME_RE.fullmatch(name or ""):
        raise UsageError(f"{name!r} is not a key name (letters, digits, '.', '_', '@' and '-')")
    public = registered_keys(registry).get(name)
    if public is None:
        raise UsageError(f"no key named {name!r} is registered in {shown_url(registry.url)}: nothing to revoke "
                         "(`auditor keys list` names the keys)")
    fp = fingerprint(public)
    before = revocations(registry).get(fp)
    if before is not None and before.effective_at <= now:
        raise UsageError(f"key {name!r} was revoked already: {before.said(now)}; nothing was recorded")
    if before is not None and effective >= before.effective_at:
        raise UsageError(f"key {name!r} already {before.said(now)}: a revocation can only bring that moment forward "
                         f"(--at before {before.effective_at.isoformat()}); nothing was recorded")
    revocation = Revocation(name, fp, effective, reason, now)
    try:
        with registry.engine.begin() as conn:
            conn.execute(sa.insert(key_revocations_table).values(
                name=name, fingerprint=fp, effective_at=effective.isoformat(), reason=reason,
                recorded_at=now.isoformat()))
    except DB_ERRORS as exc:
        raise RegistryError(f"cannot write the registry {shown_url(registry.url)}: "
                            f"{str(getattr(exc, 'orig', None) or exc).splitlines()[0]}; the key was not revoked") from None
    return revocation


@dataclass(frozen=True)
class KeyStatus:
    name: str
    fingerprint: str
    created_at: str
    revocation: Revocation | None

    def status(self, now: datetime) -> str:
        return "active" if self.revocation is None else self.revocation.said(now)


def key_statuses(registry: Registry) -> list[KeyStatus]:
    """Every registered key with its revocation, if any, by name; none in a registry made before keys
    were registered (opened by a reader)."""
    t = signing_keys_table
    if not registry.has_table(t):
        return []
    revoked = revocations(registry)
    return [KeyStatus(str(r.name), str(r.fingerprint), str(r.created_at), revoked.get(str(r.fingerprint)))
            for r in registry.rows(sa.select(t.c.name, t.c.fingerprint, t.c.created_at).order_by(t.c.name))]


def revocation_problem(record: dict[str, Any], revoked: Revocation, earlier: list[dict[str, Any]]) -> tuple[str, bool]:
    """What verify says of a valid signature by the revoked key ``revoked``: (text, whether it is a
    finding). A finding: signed at or after the revocation took effect, a ``signed_at`` that cannot be
    read, or one before it in a record that follows (``earlier``: the records before it in the log's
    hash chain) a record signed after it took effect (backdated). Otherwise information: revoked later."""
    when = revoked.effective_at.isoformat()
    what = "expired" if revoked.expiry else "was revoked"
    why = f"(recorded {revoked.recorded_at.isoformat()}: {revoked.reason})"
    signed_at = parse_moment(str(record.get("signed_at"))) if isinstance(record.get("signed_at"), str) else None
    if signed_at is None:
        return (f"signed by key {revoked.name!r}, which {what} at {when} {why}, at a time that cannot be read "
                f"({record.get('signed_at')!r}): nothing shows it was signed before"), True
    if signed_at >= revoked.effective_at:
        return (f"signed by key {revoked.name!r} at {signed_at.isoformat()}, after the key {what} at {when} {why}"), True
    after = [r for r in earlier if isinstance(r.get("signed_at"), str)
             and (m := parse_moment(r["signed_at"])) is not None and m >= revoked.effective_at]
    if after:
        return (f"signed by key {revoked.name!r} with signed_at {signed_at.isoformat()}, before the key {what} at "
                f"{when} {why}, but it follows record {after[-1].get('n', '?')}, signed at {after[-1]['signed_at']}, "
                "after that: backdated with the revoked key"), True
    if revoked.effective_at > utc_now():
        return f"key {revoked.name!r} expires at {when} {why}", False
    return f"key {revoked.name!r} {what} later, at {when} {why}", False


def signed_payload(record: dict[str, Any]) -> bytes:
    return json.dumps({k: record.get(k) for k in SIGNED_FIELDS}, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def sign_record(record: dict[str, Any], name: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    """The ``signature`` entry of a record."""
    return {"key": name, "algorithm": ALGORITHM, "fingerprint": fingerprint(key.public_key()),
            "value": base64.b64encode(key.sign(signed_payload(record))).decode("ascii")}


# The signed report is rendered from the signed record (its sign-off page shows the signature), so
# its hash cannot be inside that signature: a second signature by the same key binds the report
# to the record, else any PDF could stand in for it under a valid record signature.
PDF_SIGNED_FIELDS = ("n", "manifest_sha256", "signed_pdf", "signed_pdf_sha256")


def _pdf_payload(record: dict[str, Any]) -> bytes:
    signature = record.get("signature") if isinstance(record.get("signature"), dict) else {}
    return json.dumps({**{k: record.get(k) for k in PDF_SIGNED_FIELDS}, "signature": signature.get("value")},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign_pdf(record: dict[str, Any], key: Ed25519PrivateKey) -> str:
    """The ``signed_pdf_signature`` of a signed record whose ``signed_pdf_sha256`` is set."""
    return base64.b64encode(key.sign(_pdf_payload(record))).decode("ascii")


def check_signature(record: dict[str, Any], keys: dict[str, Ed25519PublicKey]) -> str | None:
    """None when the record is signed by a registered key and the signature matches; "unsigned"
    when it carries no signature; otherwise what is wrong."""
    sig = record.get("signature")
    if not sig:
        return "unsigned"
    if not isinstance(sig, dict) or sig.get("algorithm") != ALGORITHM:
        return f"signature in an unknown form ({sig!r:.80})"
    name = str(sig.get("key"))
    public = keys.get(name)
    if public is None:
        return f"signed by key {name!r}, which is not registered (unknown key)"
    if sig.get("fingerprint") != fingerprint(public):
        return f"signed by a key named {name!r} that is not the registered key of that name (unknown key)"
    try:
        public.verify(base64.b64decode(str(sig.get("value", "")), validate=True), signed_payload(record))
    except (InvalidSignature, ValueError):
        return f"the signature by key {name!r} does not match the record (invalid signature)"
    if not record.get("signed_pdf_signature"):
        return f"the signed report's hash carries no signature by key {name!r} (the record was edited)"
    try:
        public.verify(base64.b64decode(str(record["signed_pdf_signature"]), validate=True), _pdf_payload(record))
    except (InvalidSignature, ValueError):
        return (f"the signature by key {name!r} does not match the signed report named by the record (invalid "
                "signature: the report or its hash was replaced)")
    return None
