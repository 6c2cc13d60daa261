from __future__ import annotations

import itertools

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from jiedao.audit.context import Origin, origin
from jiedao.audit.models import GENESIS_HASH, AppendOnlyError, AuditEntry
from jiedao.audit.services import log_action, log_sensitive_read, verify_chain
from jiedao.core.scopes import unscoped


@pytest.fixture
def chain(world, role_users):
    actor = role_users["street_staff"]
    with origin(Origin(ip="10.0.0.7", user_agent="pytest", request_id="req-1")):
        return [
            log_action(actor, "test.write", world.grid_a1x, before={"n": i}, after={"n": i + 1})
            for i in range(5)
        ]


def test_entries_are_chained_from_genesis(chain):
    assert chain[0].prev_hash == GENESIS_HASH
    for previous, entry in itertools.pairwise(chain):
        assert entry.prev_hash == previous.hash and entry.seq == previous.seq + 1
    assert chain[0].ip == "10.0.0.7" and chain[0].request_id == "req-1"
    assert chain[0].territory_code == "110119001001001"
    assert verify_chain().ok and verify_chain().checked == 5


def test_sensitive_read_is_recorded(world, role_users):
    person = world.persons["a1x"]
    entry = log_sensitive_read(
        role_users["workstation_staff"], person, "id_number", reason="核实低保申请"
    )
    assert entry.kind == AuditEntry.Kind.SENSITIVE_READ and entry.note == "核实低保申请"
    assert entry.territory_code == person.territory_code


def test_application_cannot_change_or_delete(chain):
    entry = chain[0]
    entry.note = "changed"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_auditentry SET note = 'x'", "DELETE FROM audit_auditentry"]
)
def test_database_refuses_update_and_delete(chain, statement):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    with unscoped():
        assert AuditEntry.objects.count() == 5


def _tamper(sql: str, params: list) -> None:
    """Simulate someone editing the table behind the application's back (triggers dropped)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        else:
            cursor.execute("DROP TRIGGER audit_no_update")
            cursor.execute("DROP TRIGGER audit_no_delete")
        cursor.execute(sql, params)


def test_verify_reports_first_edited_entry(chain):
    _tamper("UPDATE audit_auditentry SET after = %s WHERE seq = %s", ['{"n": 99}', chain[2].seq])
    report = verify_chain()
    assert (report.ok, report.broken_at, report.checked) == (False, chain[2].seq, 2)
    assert "content" in report.reason
    with pytest.raises(CommandError, match=f"broken at entry {chain[2].seq}"):
        call_command("verify_audit_chain")


def test_verify_reports_deleted_entry(chain):
    _tamper("DELETE FROM audit_auditentry WHERE seq = %s", [chain[1].seq])
    report = verify_chain()
    assert report.broken_at == chain[1].seq and "missing" in report.reason


def test_verify_reports_truncated_tail(chain):
    _tamper("DELETE FROM audit_auditentry WHERE seq = %s", [chain[-1].seq])
    report = verify_chain()
    assert report.broken_at == chain[-1].seq


def test_verify_command_succeeds_on_intact_chain(chain, capsys):
    call_command("verify_audit_chain")
    assert "5 entries" in capsys.readouterr().out


def test_write_and_audit_roll_back_together(world, role_users):
    with pytest.raises(RuntimeError), transaction.atomic():
        log_action(role_users["street_staff"], "test.write", world.grid_a1x)
        raise RuntimeError("the write failed")
    with unscoped():
        assert not AuditEntry.objects.exists()
    entry = log_action(role_users["street_staff"], "test.write", world.grid_a1x)
    assert entry.seq == 1 and verify_chain().ok


def test_entries_appended_during_a_check_are_not_a_gap(chain, monkeypatch):
    """verify_chain reads the head first; a later append is left for the next run."""
    from jiedao.audit import services

    real_filter = AuditEntry.objects.filter

    def filter_then_append(*args, **kwargs):
        rows = real_filter(*args, **kwargs)
        log_action(None, "test.concurrent", None, territory_code="")
        return rows

    with unscoped():
        monkeypatch.setattr(AuditEntry.objects, "filter", filter_then_append)
        report = services.verify_chain()
        monkeypatch.undo()
    assert report.ok and report.checked == 5
    assert verify_chain().checked == 6


def test_user_agent_is_covered_by_the_hash(chain):
    _tamper("UPDATE audit_auditentry SET user_agent = %s WHERE seq = %s", ["forged", chain[3].seq])
    assert verify_chain().broken_at == chain[3].seq


def test_nul_characters_do_not_break_the_write(world, role_users):
    entry = log_action(
        role_users["street_staff"],
        "test.nul",
        world.grid_a1x,
        after={"name": "a\x00b"},
        note="x\x00y",
    )
    entry.refresh_from_db()
    assert entry.after == {"name": "a\ufffdb"} and entry.note == "x\ufffdy"
    assert verify_chain().ok


def test_anchor_job_writes_the_head(chain, tmp_path, settings):
    from jiedao.audit.tasks import anchor_chain_head

    settings.JIEDAO_AUDIT_ANCHOR_FILE = str(tmp_path / "anchors.log")
    record = anchor_chain_head.call()
    assert record["last_seq"] == 5 and record["last_hash"] == chain[-1].hash
    assert chain[-1].hash in (tmp_path / "anchors.log").read_text()
