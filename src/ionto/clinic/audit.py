"""The append-only, hash-chained audit log of every change to clinical data.

Each entry holds who did what to which record, the record's fields after the change, and two
SHA-256 hashes: the previous entry's and its own, computed over its content and the previous
hash. Changing, removing or reordering any entry breaks every hash after it, which
:func:`verify` finds (``ionto audit verify``). The database itself refuses UPDATE and DELETE on
the table (triggers, migration 0002), and entries are written by :class:`models.Audited` in the
same transaction as the change they describe: a change is never saved without its entry.

Two writers never read the same chain head: PostgreSQL takes a transaction-level advisory lock
before reading it; SQLite transactions are IMMEDIATE (``ionto.clinic.database``), so the write
lock is held from the start of the transaction.
"""

from __future__ import annotations

import base64
import contextvars
import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connection, models, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

if TYPE_CHECKING:
    from ionto.clinic.models import Audited, AuditEntry

GENESIS = "0" * 64
#: An arbitrary, fixed key for PostgreSQL's advisory lock on the chain head.
_PG_LOCK_KEY = 0x10_47_0A_D1

_actor: contextvars.ContextVar[str] = contextvars.ContextVar("ionto_audit_actor", default="system")


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Attribute the changes made inside to ``actor`` (a username, ``station:Chair 1``, …)."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


class ActorMiddleware:
    """Every change made while answering a request is attributed to the logged-in user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        name = user.get_username() if user is not None and user.is_authenticated else "anonymous"
        with acting_as(name):
            return self.get_response(request)


def _value(field: models.Field[Any, Any], instance: models.Model) -> Any:
    value = field.value_from_object(instance)
    if isinstance(value, memoryview | bytes | bytearray):
        return {"sha256": hashlib.sha256(bytes(value)).hexdigest()}
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot put {type(value).__name__} in the audit log")


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The record's concrete fields as JSON values (binary fields by their hash)."""
    digest_only = set(getattr(instance, "audit_digest_fields", ()))
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        value = _value(field, instance)
        if field.name in digest_only and not isinstance(value, dict):
            value = {"sha256": hashlib.sha256(str(value).encode()).hexdigest()}
        data[field.attname] = value
    result: dict[str, Any] = json.loads(json.dumps(data, default=_jsonable))
    return result


def canonical(content: dict[str, Any]) -> bytes:
    """The bytes an entry's hash is computed over: sorted keys, no spaces, UTF-8."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(content)).hexdigest()


def _content(
    at: dt.datetime, actor: str, action: str, model: str, object_pk: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "at": at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "model": model,
        "object_pk": object_pk,
        "data": data,
    }


def _lock_head() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_LOCK_KEY])


def lock_for_writing() -> None:
    """Take, for the rest of the transaction, the lock every change of clinical data needs
    anyway (the chain head's). Taken *before* a step checks the records, it makes the check
    and the change one: a second request doing the same step at the same moment waits, then
    sees the first one's change (on SQLite the IMMEDIATE transaction already does this)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_for_writing must run inside the change's transaction")
    _lock_head()


def record(instance: Audited, action: str) -> AuditEntry:
    """Append one entry for a change to ``instance``; call inside the change's transaction."""
    from ionto.clinic.models import AuditEntry

    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record must run inside the change's transaction")
    _lock_head()
    head = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first()
    prev_hash = head or GENESIS
    at = timezone.now()
    content = _content(
        at,
        _actor.get(),
        action,
        instance._meta.label,
        str(instance.pk),
        snapshot(instance),
    )
    entry = AuditEntry(
        at=at,
        actor=content["actor"],
        action=action,
        model=content["model"],
        object_pk=content["object_pk"],
        data=content["data"],
        prev_hash=prev_hash,
        hash=entry_hash(prev_hash, content),
    )
    entry.save()
    return entry


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify` found."""

    entries: int
    ok: bool
    #: The id of the first entry that does not verify, and why.
    first_bad_id: int | None = None
    problem: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "ok": self.ok,
            "first_bad_id": self.first_bad_id,
            "problem": self.problem,
        }


def verify() -> ChainReport:
    """Walk the whole chain from the start and check every link and every hash."""
    from ionto.clinic.models import AuditEntry

    prev_hash = GENESIS
    count = 0
    rows = AuditEntry.objects.order_by("id").values_list(
        "id", "at", "actor", "action", "model", "object_pk", "data", "prev_hash", "hash"
    )
    for entry_id, at, actor, action, model, object_pk, data, stored_prev, stored in rows.iterator(
        chunk_size=2000
    ):
        count += 1
        if stored_prev != prev_hash:
            return ChainReport(
                count, False, entry_id, "its previous hash is not the hash of the entry before"
            )
        expected = entry_hash(prev_hash, _content(at, actor, action, model, object_pk, data))
        if stored != expected:
            return ChainReport(count, False, entry_id, "its content does not match its hash")
        prev_hash = stored
    return ChainReport(count, True)
