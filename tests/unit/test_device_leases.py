"""Device leases: one fleet process holds a device; the lease is renewed while it lives and can be
taken over once it lapses."""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import patch

import pytest
from django.utils import timezone

from tests.factories import make_device
from whatsapp.models import DeviceLease

pytestmark = pytest.mark.django_db

TTL = 30.0


def at(moment):
    return patch("django.utils.timezone.now", return_value=moment)


def lease_of(device) -> DeviceLease:
    return DeviceLease.objects.get(device_id=device.pk)


def test_a_free_device_is_acquired() -> None:
    device = make_device()
    moment = timezone.now()
    with at(moment):
        assert DeviceLease.acquire(device.pk, "fleet-a", TTL)
    lease = lease_of(device)
    assert lease.holder == "fleet-a"
    assert lease.expires_at == moment + timedelta(seconds=TTL)


def test_a_held_device_cannot_be_acquired_by_another() -> None:
    device = make_device()
    DeviceLease.acquire(device.pk, "fleet-a", TTL)
    assert not DeviceLease.acquire(device.pk, "fleet-b", TTL)
    assert lease_of(device).holder == "fleet-a"


def test_acquiring_again_renews_our_own_lease() -> None:
    device = make_device()
    start = timezone.now()
    with at(start):
        DeviceLease.acquire(device.pk, "fleet-a", TTL)
    with at(start + timedelta(seconds=20)):
        assert DeviceLease.acquire(device.pk, "fleet-a", TTL)
    assert lease_of(device).expires_at == start + timedelta(seconds=20 + TTL)


def test_a_lapsed_lease_is_taken_over() -> None:
    device = make_device()
    start = timezone.now()
    with at(start):
        DeviceLease.acquire(device.pk, "fleet-a", TTL)
    with at(start + timedelta(seconds=TTL + 1)):
        assert DeviceLease.acquire(device.pk, "fleet-b", TTL)
        assert DeviceLease.is_held_by(device.pk, "fleet-b")
        assert not DeviceLease.is_held_by(device.pk, "fleet-a")
    assert DeviceLease.objects.count() == 1


def test_is_held_by_only_while_the_lease_lasts() -> None:
    device = make_device()
    start = timezone.now()
    with at(start):
        DeviceLease.acquire(device.pk, "fleet-a", TTL)
    with at(start + timedelta(seconds=TTL)):
        assert DeviceLease.is_held_by(device.pk, "fleet-a")
    with at(start + timedelta(seconds=TTL + 1)):
        assert not DeviceLease.is_held_by(device.pk, "fleet-a")
    assert not DeviceLease.is_held_by(device.pk, "fleet-b")


def test_release_frees_the_device_for_others() -> None:
    device = make_device()
    DeviceLease.acquire(device.pk, "fleet-a", TTL)
    DeviceLease.release(device.pk, "fleet-a")
    assert not DeviceLease.objects.filter(device_id=device.pk).exists()
    assert DeviceLease.acquire(device.pk, "fleet-b", TTL)


def test_only_the_holder_can_release() -> None:
    device = make_device()
    DeviceLease.acquire(device.pk, "fleet-a", TTL)
    DeviceLease.release(device.pk, "fleet-b")
    assert DeviceLease.is_held_by(device.pk, "fleet-a")


def test_renew_all_extends_our_leases_and_returns_their_ids() -> None:
    ours, also_ours = make_device(), make_device()
    start = timezone.now()
    with at(start):
        DeviceLease.acquire(ours.pk, "fleet-a", TTL)
        DeviceLease.acquire(also_ours.pk, "fleet-a", TTL)
    with at(start + timedelta(seconds=20)):
        kept = DeviceLease.renew_all("fleet-a", [str(ours.pk), str(also_ours.pk)], TTL)  # as the fleet passes them
    assert kept == {str(ours.pk), str(also_ours.pk)}
    assert lease_of(ours).expires_at == start + timedelta(seconds=20 + TTL)
    assert lease_of(also_ours).expires_at == start + timedelta(seconds=20 + TTL)


def test_renew_all_drops_leases_taken_over_by_another() -> None:
    device = make_device()
    start = timezone.now()
    with at(start):
        DeviceLease.acquire(device.pk, "fleet-a", TTL)
    with at(start + timedelta(seconds=TTL + 1)):
        DeviceLease.acquire(device.pk, "fleet-b", TTL)
        assert DeviceLease.renew_all("fleet-a", [device.pk], TTL) == set()
    assert lease_of(device).holder == "fleet-b"


def test_renew_all_ignores_devices_we_never_held() -> None:
    ours, theirs, free = make_device(), make_device(), make_device()
    DeviceLease.acquire(ours.pk, "fleet-a", TTL)
    DeviceLease.acquire(theirs.pk, "fleet-b", TTL)
    before = lease_of(theirs).expires_at
    assert DeviceLease.renew_all("fleet-a", [ours.pk, theirs.pk, free.pk], TTL) == {str(ours.pk)}
    assert lease_of(theirs).expires_at == before
    assert not DeviceLease.objects.filter(device_id=free.pk).exists()


def test_a_lease_renew_all_reports_as_ours_is_really_held() -> None:
    """A lease that lapsed but was not taken over: renew_all must either renew it or not report it;
    reporting it while it stays lapsed lets the fleet keep a runner whose lease check says it lost."""
    device = make_device()
    start = timezone.now()
    with at(start):
        DeviceLease.acquire(device.pk, "fleet-a", TTL)
    with at(start + timedelta(seconds=TTL + 1)):
        kept = DeviceLease.renew_all("fleet-a", [device.pk], TTL)
        assert (str(device.pk) in kept) is DeviceLease.is_held_by(device.pk, "fleet-a")
