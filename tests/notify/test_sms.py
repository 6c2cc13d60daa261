"""The SMS outbox: numbers, the console gateway, the sending job with retries, and the phone
number kept out of logs, audit snapshots and admin lists."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from django.urls import reverse
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEntry
from jiedao.notify import services, sms, tasks
from jiedao.notify.models import SmsMessage, SmsStatus
from tests.jobs.helpers import run_worker_loop
from tests.notify import backends

pytestmark = pytest.mark.django_db

PHONE = "13800138000"


@pytest.fixture(autouse=True)
def database_tasks(settings, monkeypatch):
    """The sending job on django-tasks-db, with no wait between attempts."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    monkeypatch.setattr(tasks, "send_sms", dataclasses.replace(tasks.send_sms, backoff_seconds=0))


@pytest.fixture
def queue(django_capture_on_commit_callbacks):
    def run(phone=PHONE, kind="caller_submit", case=None):
        with django_capture_on_commit_callbacks(execute=True):
            return services.queue_sms(phone, kind, {"case": 42, "category": "垃圾清运"}, case)

    return run


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("010-69101234", ""),  # a landline
        ("12800138000", ""),
        ("1380013800", ""),
        ("", ""),
    ],
)
def test_only_mainland_mobiles_get_messages(raw, number):
    assert sms.normalise_mobile(raw) == number


def test_masking_keeps_the_first_three_and_last_four_digits():
    assert sms.mask_phone(PHONE) == "138****8000"
    assert sms.mask_phone("6910123") == "*******"  # too short to show any part of it
    assert sms.mask_phone("123") == "***"


def test_console_gateway_logs_a_masked_number_and_escapes_the_text(caplog, settings):
    with caplog.at_level(logging.INFO, logger="jiedao.sms"):
        message_id = sms.ConsoleBackend().send(PHONE, "第一行\n伪造的日志行")
    (record,) = caplog.records
    assert message_id.startswith("console-") and message_id in record.getMessage()
    assert "138****8000" in record.getMessage() and PHONE not in record.getMessage()
    assert "\n" not in record.getMessage() and "\\x0a" in record.getMessage()
    assert sms.backend_path() == "jiedao.notify.sms.ConsoleBackend"


def test_a_queued_message_is_sent_by_the_job_once(queue, recording_sms):
    message = queue()
    assert message.status == SmsStatus.QUEUED and message.backend.endswith("RecordingBackend")

    run_worker_loop()

    message.refresh_from_db()
    assert (message.status, message.attempts, message.provider_message_id) == ("sent", 1, "rec-1")
    assert message.sent_at is not None
    assert recording_sms == [(PHONE, message.body)]
    assert services.deliver_sms(message.pk) == SmsStatus.SENT  # run again: not sent again
    assert len(recording_sms) == 1


def test_a_failing_gateway_is_retried_then_the_message_is_marked_failed(queue, settings):
    settings.JIEDAO_SMS_BACKEND = "tests.notify.backends.FailingBackend"
    backends.FailingBackend.calls = 0
    message = queue()

    run_worker_loop(max_tasks=20)

    message.refresh_from_db()
    assert message.status == SmsStatus.FAILED
    assert message.attempts == services.SMS_MAX_ATTEMPTS == backends.FailingBackend.calls
    assert message.last_error == "GatewayDown: gateway unreachable"
    row = DBTaskResult.objects.get(task_path="jiedao.notify.tasks.send_sms")
    assert row.status == TaskResultStatus.FAILED and len(row.worker_ids) == 5
    assert AuditEntry.all_objects.filter(
        action="notify.sms.failed", object_id=str(message.pk)
    ).exists()


def test_a_flaky_gateway_succeeds_on_a_later_attempt(queue, settings):
    settings.JIEDAO_SMS_BACKEND = "tests.notify.backends.FlakyBackend"
    backends.FlakyBackend.calls = 0
    message = queue()

    run_worker_loop(max_tasks=20)

    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == ("sent", 3, "")
    assert message.provider_message_id == "flaky-ok"


def test_the_job_waits_for_its_backoff_between_attempts(queue, settings, monkeypatch):
    # The real job (not the zero-backoff one): one attempt now, the retry a minute later.
    slow = dataclasses.replace(tasks.send_sms, backoff_seconds=tasks.SMS_BACKOFF_SECONDS)
    monkeypatch.setattr(tasks, "send_sms", slow)
    settings.JIEDAO_SMS_BACKEND = "tests.notify.backends.FailingBackend"
    message = queue()

    run_worker_loop(max_tasks=20)

    message.refresh_from_db()
    assert (message.status, message.attempts) == (SmsStatus.QUEUED, 1)
    assert DBTaskResult.objects.get().status == TaskResultStatus.READY


def test_the_phone_number_never_reaches_the_audit_trail(queue, settings):
    settings.JIEDAO_SMS_BACKEND = "tests.notify.backends.FailingBackend"
    message = queue()
    run_worker_loop(max_tasks=20)
    services.resend_sms(None, SmsMessage.objects.get(pk=message.pk))

    entries = AuditEntry.all_objects.filter(object_type="notify.smsmessage")
    assert {e.action for e in entries} == {
        "notify.sms.queue",
        "notify.sms.failed",
        "notify.sms.resend",
    }
    dumped = json.dumps([[e.before, e.after, e.note] for e in entries], ensure_ascii=False)
    assert PHONE not in dumped and "8000" not in dumped


def test_admin_lists_and_pages_show_masked_numbers_only(client, queue, role_users):
    message = queue()
    client.force_login(role_users[Role.SYSTEM_ADMIN])

    listing = client.get(reverse("admin:notify_smsmessage_changelist")).content.decode()
    detail = client.get(
        reverse("admin:notify_smsmessage_change", args=[message.pk])
    ).content.decode()

    for page in (listing, detail):
        assert "138****8000" in page and PHONE not in page


def test_admin_sends_failed_messages_again(client, queue, role_users, settings, recording_sms):
    message = queue()
    SmsMessage.objects.filter(pk=message.pk).update(status=SmsStatus.FAILED, attempts=5)
    sent_one = queue()
    client.force_login(role_users[Role.SYSTEM_ADMIN])

    with_commit = client.post(
        reverse("admin:notify_smsmessage_changelist"),
        {"action": "send_again", "_selected_action": [message.pk, sent_one.pk]},
    )

    assert with_commit.status_code == 302
    message.refresh_from_db()
    assert (message.status, message.attempts) == (SmsStatus.QUEUED, 0)
    assert AuditEntry.all_objects.filter(action="notify.sms.resend").count() == 1
