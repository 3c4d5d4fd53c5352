"""The audit log: every change to clinical data in the same transaction, hash-chained,
append-only in the database itself, and a verification that finds any tampering."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import DatabaseError, connection, transaction

from ionto.clinic import audit, audit_triggers
from ionto.clinic.models import AuditEntry, Practice, Referral


def test_every_step_of_a_referral_is_audited_and_the_chain_verifies(
    make_referral: Callable[..., Referral],
) -> None:
    referral = make_referral("planned")
    models = set(AuditEntry.objects.values_list("model", flat=True))
    for label in ("Patient", "Referral", "FundingRequest", "Consultation", "Consent", "Course"):
        assert f"clinic.{label}" in models
    actors = set(AuditEntry.objects.values_list("actor", flat=True))
    assert actors  # attributed (here: "system", the tests call the workflow directly)
    entry = AuditEntry.objects.filter(model="clinic.Referral", object_pk=str(referral.pk)).first()
    assert entry is not None
    assert entry.data["gp_name"] == "Dr Patel"
    report = audit.verify()
    assert report.ok, report
    assert report.entries == AuditEntry.objects.count()


@pytest.mark.django_db
def test_a_change_and_its_entry_roll_back_together() -> None:
    before = AuditEntry.objects.count()

    def fail_after_saving() -> None:
        with transaction.atomic():
            Practice.objects.create(code="X1", name="Gone")
            assert AuditEntry.objects.count() == before + 1
            raise RuntimeError("the request failed after the save")

    with pytest.raises(RuntimeError):
        fail_after_saving()
    assert AuditEntry.objects.count() == before
    assert not Practice.objects.filter(code="X1").exists()


@pytest.mark.django_db
def test_the_actor_is_who_made_the_change() -> None:
    with audit.acting_as("nurse"):
        practice = Practice.objects.create(code="A1", name="Acting")
    entry = AuditEntry.objects.get(model="clinic.Practice", object_pk=str(practice.pk))
    assert entry.actor == "nurse"
    assert entry.action == "create"
    practice.delete()
    assert AuditEntry.objects.filter(action="delete", model="clinic.Practice").count() == 1


@pytest.mark.django_db
def test_the_model_refuses_to_change_or_delete_an_entry() -> None:
    Practice.objects.create(code="B1", name="B")
    entry = AuditEntry.objects.last()
    assert entry is not None
    entry.actor = "someone else"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_to_change_or_delete_an_entry() -> None:
    Practice.objects.create(code="C1", name="C")
    table = AuditEntry._meta.db_table
    for sql in (f"UPDATE {table} SET actor = 'x'", f"DELETE FROM {table}"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert audit.verify().ok


def _drop_triggers() -> None:
    audit_triggers.remove(connection)


def _raw(sql: str, params: list[object]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.parametrize("tamper", ["content", "removed", "relinked"])
def test_verify_finds_tampering(make_referral: Callable[..., Referral], tamper: str) -> None:
    make_referral("consented")
    ids = list(AuditEntry.objects.order_by("id").values_list("id", flat=True))
    victim = ids[len(ids) // 2]
    _drop_triggers()
    table = AuditEntry._meta.db_table
    if tamper == "content":
        # Someone edits what a record said (the JSON of one entry).
        _raw(f"UPDATE {table} SET actor = %s WHERE id = %s", ["mallory", victim])
    elif tamper == "removed":
        _raw(f"DELETE FROM {table} WHERE id = %s", [victim])
    else:
        # Edit an entry and recompute its own hash: the next entry's link still breaks.
        entry = AuditEntry.objects.get(id=victim)
        content = audit._content(
            entry.at, "mallory", entry.action, entry.model, entry.object_pk, entry.data
        )
        _raw(
            f"UPDATE {table} SET actor = %s, hash = %s WHERE id = %s",
            ["mallory", audit.entry_hash(entry.prev_hash, content), victim],
        )
    report = audit.verify()
    assert not report.ok
    expected = victim if tamper == "content" else ids[ids.index(victim) + 1]
    assert report.first_bad_id == expected
    assert report.problem


def test_no_queryset_update_on_audited_models() -> None:
    """QuerySet.update and bulk_create would bypass the audit log: the clinic never uses them
    on its records (the device's trace and event rows are not Audited)."""
    clinic = Path(__file__).resolve().parents[2] / "src" / "ionto" / "clinic"
    offenders = []
    for path in clinic.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\.(update|bulk_create|bulk_update)\(", line) and "objects" in line:
                if "TraceChunk" in line or "SessionEventRow" in line:
                    continue
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, offenders
