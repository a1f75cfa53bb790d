"""Linking a device: the QR window (6 codes: 60 s, then 5 x 20 s = 160 s), phone pairing codes, and the
phone's side of both (scan, enter the code, rotate or expire the QR now). See whatsapp-behaviour.md §1."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from whatsapp import jids
from whatsapp.engine.base import Paired, QRCodeIssued, QRWindowClosed
from whatsapp.engine.simulator import world
from whatsapp.engine.simulator.db import retrying
from whatsapp.engine.simulator.models import SimSession
from whatsapp.errors import ErrorCode, WhatsAppError

QR_COUNT = 6  # refs per <pair-device>: one linking socket shows six codes
QR_FIRST_S = 60.0  # the first code of a batch of six
QR_NEXT_S = 20.0  # every other code
QR_PREFIX = "https://wa.me/settings/linked_devices#"
PAIR_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"  # whatsmeow's base32: no 0, I, O, U
PAIRED_TO_CONNECTED_S = 1.0  # pair-success → stream error 515 → reconnect → <success>
DEFAULT_PHONE = "15145550100"
DEFAULT_PUSH_NAME = "Simulated Phone"
_NON_PAIR_CHARS = re.compile(r"[\s-]")


def _b64_key() -> str:
    """A 32-byte key as StdEncoding base64 with padding: 44 characters."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def make_qr(keys: tuple[str, str, str], client_type: str) -> str:
    """``<prefix><ref>,<noise pub>,<identity pub>,<adv secret>,<client type>`` with a fresh server ref."""
    ref = "2@" + base64.b64encode(secrets.token_bytes(48)).decode()
    return f"{QR_PREFIX}{ref},{keys[0]},{keys[1]},{keys[2]},{client_type}"


def make_pairing_code() -> str:
    """5 random bytes in whatsmeow's base32 alphabet: 8 characters."""
    number = int.from_bytes(secrets.token_bytes(5), "big")
    return "".join(PAIR_ALPHABET[(number >> shift) & 31] for shift in range(35, -1, -5))


def international_digits(text: str) -> str:
    """whatsmeow's PairPhone checks: strip non-digits; > 6 digits; no leading 0."""
    digits = world.phone_digits(text)
    if len(digits) <= 6:
        raise WhatsAppError(ErrorCode.AUTH_PAIRING_FAILED, "phone number too short",
                            details={"phone": text, "reason": "ErrPhoneNumberTooShort"})
    if digits.startswith("0"):
        raise WhatsAppError(ErrorCode.AUTH_PAIRING_FAILED, "international phone number required (no leading 0)",
                            details={"phone": text, "reason": "ErrPhoneNumberIsNotInternational"})
    return digits


@dataclass
class Linking:
    """One linking socket: its keys (stable for the socket), the code on screen and the pairing code."""

    gen: int
    keys: tuple[str, str, str]
    shown: int = 0
    code: str = ""
    valid_until: datetime | None = None
    window_ends_at: datetime | None = None
    job: Any = None
    pairing_code: str = ""
    pairing_phone: str = ""


class LinkingMixin:
    """The linking half of :class:`SimulatorEngine` (it provides ``_lock``, ``later``, ``sink``…)."""

    def _init_linking(self) -> None:
        self._linking: Linking | None = None
        self._session_jid: str = self.config.session_jid

    def _linking_state(self) -> dict[str, Any]:
        link = self._linking
        if link is None:
            return {"linking": False, "qr_code": "", "qr_index": 0, "qr_valid_until": None, "window_ends_at": None,
                    "pairing_code": "", "pairing_phone": ""}
        return {"linking": True, "qr_code": link.code, "qr_index": link.shown, "qr_valid_until": link.valid_until,
                "window_ends_at": link.window_ends_at, "pairing_code": link.pairing_code,
                "pairing_phone": link.pairing_phone}

    def _start_linking(self, gen: int) -> None:
        with self._lock:
            self._linking = Linking(gen=gen, keys=(_b64_key(), _b64_key(), _b64_key()))
            self._linking.job = self._clock.call_later(0, self._next_qr, gen)

    def _stop_linking(self) -> None:
        """Forget the linking socket without any event (caller holds the lock)."""
        if self._linking is not None and self._linking.job is not None:
            self._linking.job.cancel()
        self._linking = None

    def _next_qr(self, gen: int) -> bool:
        """Show the next code of the window, or close the window after the sixth. False when stale."""
        with self._lock:
            link = self._linking
            if link is None or link.gen != gen:
                return False
            if link.job is not None:
                link.job.cancel()
            if link.shown >= QR_COUNT:
                last = True
            else:
                last = False
                link.shown += 1
                lifetime = QR_FIRST_S if link.shown == 1 else QR_NEXT_S
                link.code = make_qr(link.keys, str(self.config.options.get("qr_client_type", "9")))
                now = timezone.now()
                link.valid_until = now + timedelta(seconds=self.scaled(lifetime))
                rest = (QR_COUNT - link.shown) * QR_NEXT_S  # the codes still to come
                link.window_ends_at = now + timedelta(seconds=self.scaled(lifetime + rest))
                link.job = self.later(lifetime, self._next_qr, gen)
                event = QRCodeIssued(code=link.code, valid_for_s=self.scaled(lifetime),
                                     window_ends_at=link.window_ends_at)
        if last:
            return self._close_window(gen)
        self._save_state()
        self.sink(event)
        return True

    def _close_window(self, gen: int) -> bool:
        """The codes ran out (or the phone expired them): whatsmeow disconnects the linking socket."""
        with self._lock:
            if self._linking is None or self._linking.gen != gen:
                return False
            self._stop_linking()
            self._conn_gen += 1
            self._socket = self._connected = False
        self._save_state()
        self.sink(QRWindowClosed())
        return True

    # --- pairing code ------------------------------------------------------------------------

    def pair_phone(self, phone_digits: str) -> str:
        """An 8-character code, returned as whatsmeow's PairPhone returns it: ``XXXX-XXXX``."""
        digits = international_digits(phone_digits)
        contact = world.contact_for(jids.phone_jid(digits))
        if contact is not None and not contact.on_whatsapp:
            raise WhatsAppError(ErrorCode.AUTH_PAIRING_FAILED, "this phone number is not registered on WhatsApp",
                                details={"phone": digits})
        with self._lock:
            if self._connected:
                raise WhatsAppError(ErrorCode.AUTH_PAIRING_FAILED, "the device is already linked",
                                    details={"reason": "already_logged_in"})
            link = self._linking
            if link is None:
                raise WhatsAppError(ErrorCode.AUTH_PAIRING_FAILED, "websocket not connected: start linking first "
                                    "(connect, then wait for the first QR code)", details={"reason": "not_linking"})
            code = make_pairing_code()
            link.pairing_code, link.pairing_phone = code, digits
        self._save_state()
        return f"{code[:4]}-{code[4:]}"

    # --- the phone's side --------------------------------------------------------------------

    def _current_link(self) -> Linking:
        with self._lock:
            link = self._linking
            if link is None or not link.shown:
                raise ValueError("no QR code on screen: the device is not linking (connect it first, or the QR "
                                 "window has closed)")
            return link

    def _act_scan(self, payload: dict[str, Any]) -> dict[str, Any]:
        link = self._current_link()
        if payload.get("code") and payload["code"] != link.code:
            raise ValueError("that QR code is no longer on screen (it rotated or expired)")
        digits = world.phone_digits(payload.get("phone") or DEFAULT_PHONE)
        if len(digits) < 7 or digits.startswith("0"):
            raise ValueError(f"not an international phone number: {payload.get('phone')!r}")
        return self._complete_pairing(link, digits, payload.get("name") or "", payload.get("lid") or "")

    def _act_enter_code(self, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            link = self._linking
        if link is None:
            raise WhatsAppError(ErrorCode.AUTH_PAIRING_FAILED, "the device is not linking: no pairing code to enter")
        if not link.pairing_code:
            raise WhatsAppError(ErrorCode.AUTH_PAIRING_FAILED, "no pairing code was requested on the device")
        typed = _NON_PAIR_CHARS.sub("", payload.get("code") or "").upper()
        if typed != link.pairing_code:
            raise WhatsAppError(ErrorCode.AUTH_PAIRING_FAILED, "wrong pairing code", details={"entered": typed})
        return self._complete_pairing(link, link.pairing_phone, payload.get("name") or "", payload.get("lid") or "")

    def _complete_pairing(self, link: Linking, digits: str, name: str, lid: str) -> dict[str, Any]:
        phone_jid = jids.phone_jid(digits)
        contact = world.contact_for(phone_jid)
        if contact is not None and not contact.on_whatsapp:
            raise ValueError(f"+{digits} is not registered on WhatsApp in the simulated world")
        if lid:
            lid = jids.normalize(lid if "@" in lid else f"{lid}@{jids.LID_SERVER}")
        push_name = name or (contact.name if contact else "") or DEFAULT_PUSH_NAME
        with self._lock:
            if self._linking is not link:
                raise ValueError("no QR code on screen: the linking window closed meanwhile")
            self._stop_linking()
        phone_jid, lid = world.ensure_account(phone_jid, lid, push_name)
        retrying(lambda: SimSession.objects.update_or_create(
            device_id=self.device_id, defaults={"phone_jid": phone_jid, "lid": lid, "push_name": push_name}))
        with self._lock:
            self._session_jid = phone_jid
        self._save_state()
        self.sink(Paired(phone_jid=phone_jid, lid=lid, push_name=push_name))
        self.later(PAIRED_TO_CONNECTED_S, self._go_online, link.gen)
        return {"phone_jid": phone_jid, "lid": lid, "push_name": push_name}

    def _act_rotate_qr(self, payload: dict[str, Any]) -> dict[str, Any]:
        link = self._current_link()
        self._next_qr(link.gen)
        with self._lock:
            now_showing = self._linking
        if now_showing is None:
            return {"window_closed": True, "qr_code": None}
        return {"window_closed": False, "qr_code": now_showing.code, "index": now_showing.shown,
                "valid_until": now_showing.valid_until.isoformat() if now_showing.valid_until else None}

    def _act_expire_qr(self, payload: dict[str, Any]) -> dict[str, Any]:
        link = self._current_link()
        self._close_window(link.gen)
        return {"window_closed": True}
