"""The admin's approval pages: the changelist (columns, filters, search, overdue ones expired before
they are shown), the read-only inspection page (no add, no edit, no delete), and the approve / deny
actions (the operator's name recorded; already-decided and expired ones reported as enum errors,
never a 500)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from approvals.models import Approval, ApprovalStatus, DecisionSource
from tests.factories import make_app, make_approval, make_device
from whatsapp.models import Device, DeviceEvent, EventType

CHANGELIST = reverse("admin:approvals_approval_changelist")


def change_url(approval: Approval) -> str:
    return reverse("admin:approvals_approval_change", args=[approval.pk])


def notes(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def pending(device: Device, *, age_s: float = 0, timeout: int = 300, **fields) -> Approval:
    return make_approval(device, created_at=timezone.now() - timedelta(seconds=age_s), timeout_seconds=timeout,
                         **fields)


def overdue(device: Device, **fields) -> Approval:
    return pending(device, age_s=70, timeout=10, **fields)


def act(client, action: str, *approvals: Approval):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [a.pk for a in approvals]}, follow=True)


def stored(approval: Approval) -> Approval:
    return Approval.objects.get(pk=approval.pk)


@pytest.fixture
def device(db) -> Device:
    return make_device(make_app(name="billing"), name="ops-phone")


# --- the changelist ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_changelist_shows_the_approvals(admin_client, device) -> None:
    waiting = pending(device, action="Deploy " + "x" * 200, timeout=600)
    done = pending(device, recipient_jid="15557654321@s.whatsapp.net", action="Reboot")
    done.respond(False, DecisionSource.OPERATOR, user="carol")
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert all(text in page for text in (waiting.pk, done.pk, "ops-phone", "15551234567@s.whatsapp.net",
                                         "15557654321@s.whatsapp.net", "Reboot", "carol", "operator"))
    assert "Deploy xxx" in page
    assert "x" * 200 not in page  # the action is truncated
    assert "9m 5" in page  # time left, for the pending one
    assert "Approve selected approvals" in page
    assert "Deny selected approvals" in page
    assert "Add approval" not in page


@pytest.mark.django_db
def test_filters_and_search(admin_client, device) -> None:
    other = make_device(device.app, name="backup-phone")
    waiting = pending(device)
    denied = pending(device, recipient_jid="15557654321@s.whatsapp.net")
    denied.respond(False, DecisionSource.API)
    elsewhere = pending(other)

    def shown(**query: str) -> set[str]:
        response = admin_client.get(CHANGELIST, query)
        assert response.status_code == 200
        return {a.pk for a in response.context["cl"].result_list}

    assert shown() == {waiting.pk, denied.pk, elsewhere.pk}
    assert shown(status__exact="denied") == {denied.pk}
    assert shown(status__exact="pending") == {waiting.pk, elsewhere.pk}
    assert shown(decided_by__exact="api") == {denied.pk}
    assert shown(device__id__exact=str(other.pk)) == {elsewhere.pk}
    assert shown(q=denied.pk) == {denied.pk}
    assert shown(q="15557654321") == {denied.pk}


@pytest.mark.django_db
def test_overdue_approvals_are_expired_before_the_list_is_shown(admin_client, device) -> None:
    late = overdue(device)
    live = pending(device)
    response = admin_client.get(CHANGELIST, {"status__exact": "pending"})
    assert [a.pk for a in response.context["cl"].result_list] == [live.pk]
    assert (stored(late).status, stored(late).decided_by) == (ApprovalStatus.EXPIRED, DecisionSource.EXPIRY)
    assert DeviceEvent.objects.filter(device_id=device.pk, type=EventType.APPROVAL_RESOLVED).count() == 1


# --- the inspection page -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_change_page_is_read_only(admin_client, device) -> None:
    approval = pending(device, action="Wire 500 EUR", details="Invoice 77", request_wa_id="3EB0AAA")
    response = admin_client.get(change_url(approval))
    assert response.status_code == 200
    page = response.content.decode()
    assert all(text in page for text in ("Wire 500 EUR", "Invoice 77", "3EB0AAA", approval.pk))
    assert 'name="_save"' not in page
    assert admin_client.get(reverse("admin:approvals_approval_add")).status_code == 403
    assert admin_client.post(change_url(approval), {"status": "approved"}).status_code == 403
    assert admin_client.post(reverse("admin:approvals_approval_delete", args=[approval.pk]),
                             {"post": "yes"}).status_code == 403
    assert stored(approval).status == ApprovalStatus.PENDING


@pytest.mark.django_db
def test_the_change_page_expires_an_overdue_approval(admin_client, device) -> None:
    late = overdue(device)
    response = admin_client.get(change_url(late))
    assert response.status_code == 200
    assert stored(late).status == ApprovalStatus.EXPIRED
    assert "Expiry" in response.content.decode()  # decided by, as its label


# --- the decisions -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_approve_selected_records_the_operator(admin_client, admin_user, device) -> None:
    first, second = pending(device), pending(device)
    response = act(admin_client, "approve_selected", first, second)
    assert response.status_code == 200
    assert notes(response) == [("success", "2 approvals approved.")]
    for approval in (first, second):
        approval = stored(approval)
        assert (approval.status, approval.decided_by, approval.decided_by_user) == (
            ApprovalStatus.APPROVED, DecisionSource.OPERATOR, admin_user.get_username())
        assert approval.responded_at is not None
    events = DeviceEvent.objects.filter(device_id=device.pk, type=EventType.APPROVAL_RESOLVED)
    assert sorted(event.payload["source"] for event in events) == ["operator", "operator"]


@pytest.mark.django_db
def test_deny_selected_records_the_operator(admin_client, admin_user, device) -> None:
    approval = pending(device)
    response = act(admin_client, "deny_selected", approval)
    assert notes(response) == [("success", "1 approval denied.")]
    approval = stored(approval)
    assert (approval.status, approval.decided_by, approval.decided_by_user) == (
        ApprovalStatus.DENIED, DecisionSource.OPERATOR, admin_user.get_username())


@pytest.mark.django_db
def test_already_decided_and_expired_ones_are_reported_as_errors(admin_client, device) -> None:
    waiting = pending(device)
    by_reply = pending(device)
    by_reply.respond(True, DecisionSource.REPLY, text="yes")
    by_api = pending(device)
    by_api.respond(True, DecisionSource.API)
    expired = pending(device)
    Approval.objects.filter(pk=expired.pk).update(status=ApprovalStatus.EXPIRED, decided_by=DecisionSource.EXPIRY,
                                                  responded_at=timezone.now())
    response = act(admin_client, "deny_selected", waiting, by_reply, by_api, expired)
    assert response.status_code == 200
    levels = notes(response)
    assert levels[0] == ("success", "1 approval denied.")
    errors = [text for level, text in levels if level == "error"]
    assert len(levels) == 3, levels
    assert len(errors) == 2, levels
    (already,) = [text for text in errors if "APPROVAL_ALREADY_RESPONDED" in text]
    assert already.startswith("2 approvals not denied")
    assert by_reply.pk in already
    assert by_api.pk in already
    assert "it is approved" in already
    (timed_out,) = [text for text in errors if "APPROVAL_TIMEOUT" in text]
    assert timed_out.startswith("1 approval not denied")
    assert expired.pk in timed_out
    assert stored(waiting).status == ApprovalStatus.DENIED
    assert (stored(by_reply).status, stored(by_reply).decided_by) == (ApprovalStatus.APPROVED, DecisionSource.REPLY)
    assert stored(by_api).decided_by_user == ""
    assert stored(expired).status == ApprovalStatus.EXPIRED


@pytest.mark.django_db
def test_deciding_past_the_deadline_is_a_timeout(admin_client, device) -> None:
    # Selected while it still showed pending, decided after its deadline: expired, never approved.
    late = overdue(device)
    response = admin_client.post(CHANGELIST, {"action": "approve_selected", "_selected_action": [late.pk]},
                                 follow=True)
    (note,) = notes(response)
    assert note[0] == "error"
    assert "APPROVAL_TIMEOUT" in note[1]
    assert (stored(late).status, stored(late).decided_by) == (ApprovalStatus.EXPIRED, DecisionSource.EXPIRY)


@pytest.mark.django_db
def test_the_actions_need_the_change_permission(client, device) -> None:
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_approval"))
    client.force_login(viewer)
    approval = pending(device)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "Approve selected approvals" not in page.content.decode()
    client.post(CHANGELIST, {"action": "approve_selected", "_selected_action": [approval.pk]})
    assert stored(approval).status == ApprovalStatus.PENDING
