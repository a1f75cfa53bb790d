"""Concurrent appends to one device's event log on PostgreSQL: exactly 1..N, no duplicates, no gaps."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from tests.factories import make_device
from whatsapp.models import Device, DeviceEvent, EventType

THREADS = 8
APPENDS_PER_THREAD = 25


def test_runs_on_postgresql() -> None:
    assert connection.vendor == "postgresql", "tests/integration needs DATABASE_URL pointing at PostgreSQL"


def _append_concurrently(device_ids: list, threads: int, per_thread: int) -> list[BaseException]:
    """Start ``threads`` threads at once; each appends ``per_thread`` events to every device in turn."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(worker: int) -> None:
        try:
            start.wait(timeout=30)
            for n in range(per_thread):
                for device_id in device_ids:
                    DeviceEvent.append(device_id, EventType.MESSAGE, {"worker": worker, "n": n})
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers), "an append hung"
    return errors


def _sequences(device: Device) -> list[int]:
    return list(DeviceEvent.objects.filter(device=device).order_by("sequence").values_list("sequence", flat=True))


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_take_every_number_once() -> None:
    device = make_device()
    errors = _append_concurrently([device.pk], THREADS, APPENDS_PER_THREAD)
    assert errors == []
    total = THREADS * APPENDS_PER_THREAD
    numbers = _sequences(device)
    assert [n for n, count in Counter(numbers).items() if count > 1] == []
    assert numbers == list(range(1, total + 1))
    device.refresh_from_db()
    assert device.event_sequence == total
    per_worker = Counter(payload["worker"] for payload in
                         DeviceEvent.objects.filter(device=device).values_list("payload", flat=True))
    assert per_worker == dict.fromkeys(range(THREADS), APPENDS_PER_THREAD)


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_to_two_devices_stay_independent() -> None:
    first, second = make_device(), make_device()
    errors = _append_concurrently([first.pk, second.pk], THREADS, APPENDS_PER_THREAD)
    assert errors == []
    total = THREADS * APPENDS_PER_THREAD
    assert _sequences(first) == list(range(1, total + 1))
    assert _sequences(second) == list(range(1, total + 1))


@pytest.mark.django_db(transaction=True)
def test_linking_the_same_twins_concurrently_leaves_one_contact() -> None:
    """The runner (an IdentityLinked event) and a service (a user-info answer) may learn the same
    phone/LID pair at the same moment."""
    from tests.factories import make_device
    from whatsapp.models import Contact

    device = make_device()
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def link() -> None:
        try:
            barrier.wait()
            Contact.link_twins(device.pk, "15145550101@s.whatsapp.net", "118207457280017@lid")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=link) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Contact.objects.filter(device=device).count() == 1
