"""Downloading a media URL an API client gave us, without letting it reach our own network (SSRF).

The guard resolves the host once, refuses the URL when any address is not public, and then
connects to one of exactly those addresses: the request goes to ``http(s)://<ip>:<port>/…`` with
the original ``Host`` header, and for HTTPS the original name as SNI (httpx's documented
``sni_hostname`` request extension), so the certificate is still verified against the name. No
second DNS lookup happens, so a name that answers "public" to the check and "169.254.169.254" to
the connect (DNS rebinding) gains nothing. Redirects are followed by hand so every hop goes through
the same check; environment proxies are ignored (a proxy would resolve names itself).
"""

from __future__ import annotations

import email.message
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from urllib.parse import unquote

import httpx
from django.conf import settings

from whatsapp.errors import ErrorCode, WhatsAppError

__all__ = ["FetchedMedia", "fetch_url", "is_forbidden_address"]

MAX_REDIRECTS = 3
MAX_ADDRESSES = 4  # addresses tried in turn when a connection is refused
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "whatsapp-gateway-media-fetch/1"
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_EXTENDED_FILENAME = re.compile(r"filename\*\s*=\s*([^;]+)", re.IGNORECASE)


@dataclass(frozen=True)
class FetchedMedia:
    """A downloaded body with what the server said about it (untrusted: sniff before use)."""

    content: bytes
    mime_type: str | None
    file_name: str | None
    final_url: str


def _resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in resolver order (the seam tests replace)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


def is_forbidden_address(ip: _IP) -> bool:
    """True for anything but a global unicast address, including IPv4 hidden inside IPv6 forms."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and is_forbidden_address(embedded):
            return True
    return (not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified or getattr(ip, "is_site_local", False))


def _failed(field: str, host: str, reason: str, message: str, **details: object) -> WhatsAppError:
    return WhatsAppError(ErrorCode.MEDIA_FETCH_FAILED, message,
                         details={"field": field, "host": host, "reason": reason, **details})


def _too_large(field: str, max_bytes: int, size: int | None = None) -> WhatsAppError:
    details: dict[str, object] = {"field": field, "max_bytes": max_bytes}
    if size is not None:
        details["size"] = size
    return WhatsAppError(ErrorCode.MEDIA_TOO_LARGE, f"The media exceeds the {max_bytes}-byte limit.",
                         details=details)


def _parse(url: str | httpx.URL, field: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "Media URL must be an absolute http or https URL.",
                            details={"field": field})
    return parsed


def _addresses(url: httpx.URL, field: str) -> list[str]:
    """The addresses to connect to, all checked; raises before any connection when one is private."""
    host = url.raw_host.decode("ascii")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = _resolve(host, url.port or (443 if url.scheme == "https" else 80))
        except (OSError, UnicodeError) as exc:
            raise _failed(field, host, "dns", f"Could not resolve {host}.") from exc
    if not addresses:
        raise _failed(field, host, "dns", f"Could not resolve {host}.")
    if not settings.ALLOW_PRIVATE_URLS:
        for address in addresses:
            if is_forbidden_address(ipaddress.ip_address(address)):
                raise WhatsAppError(ErrorCode.MEDIA_URL_FORBIDDEN, details={"field": field, "host": host})
    return addresses[:MAX_ADDRESSES]


def _is_tls_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _stream(client: httpx.Client, url: httpx.URL, address: str,
            timeout: httpx.Timeout) -> AbstractContextManager[httpx.Response]:
    """GET ``url`` from the checked ``address``, keeping the name in Host (and in SNI for HTTPS)."""
    host = url.raw_host.decode("ascii")
    extensions = {"sni_hostname": host} if url.scheme == "https" and address != host else {}
    # netloc is the IDNA host plus any explicit port: what the Host header must carry.
    return client.stream("GET", url.copy_with(host=address), headers={"Host": url.netloc.decode("ascii")},
                         timeout=timeout, extensions=extensions)


def _file_name(response: httpx.Response, url: httpx.URL) -> str | None:
    name = None
    disposition = response.headers.get("content-disposition")
    if disposition:
        # RFC 6266: filename*=charset'lang'pct-encoded wins over filename= (the stdlib takes the first).
        extended = _EXTENDED_FILENAME.search(disposition)
        if extended:
            charset, _, encoded = extended.group(1).strip().strip('"').partition("'")
            try:
                name = unquote(encoded.partition("'")[2], encoding=charset or "utf-8", errors="replace")
            except LookupError:  # unknown charset
                name = None
        if not name:
            message = email.message.Message()
            message["content-disposition"] = disposition
            name = message.get_filename()
    name = name or unquote(url.path.rsplit("/", 1)[-1])
    name = "".join(ch for ch in name.replace("\\", "/").rsplit("/", 1)[-1] if ch.isprintable()).strip()
    return name or None


def _read(chunks: Iterator[bytes], field: str, max_bytes: int, deadline: float, host: str) -> bytes:
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(field, max_bytes)
        if time.monotonic() > deadline:
            raise _failed(field, host, "timeout", "The media download took too long.")
    return bytes(body)


def fetch_url(url: str, *, field: str = "url", max_bytes: int | None = None, timeout_s: float = 30.0) -> FetchedMedia:
    """Download ``url`` (http/https only) for sending, refusing private destinations at every hop.

    ``timeout_s`` bounds the whole download (all hops and the body), so a server that trickles
    bytes cannot hold a worker. The body is streamed and abandoned as soon as it passes
    ``max_bytes`` (default ``settings.MEDIA_MAX_BYTES``); a larger Content-Length is refused
    before reading. Every failure is a :class:`WhatsAppError` (details name the host, never the
    full URL, which may carry a signature or token).
    """
    limit = settings.MEDIA_MAX_BYTES if max_bytes is None else max_bytes
    deadline = time.monotonic() + timeout_s
    current = _parse(url, field)
    with httpx.Client(trust_env=False, follow_redirects=False, http2=False,
                      headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}) as client:
        for hop in range(MAX_REDIRECTS + 1):
            host = current.raw_host.decode("ascii")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _failed(field, host, "timeout", "The media download took too long.")
            addresses = _addresses(current, field)
            try:
                for index, address in enumerate(addresses):
                    try:
                        with _stream(client, current, address, httpx.Timeout(remaining)) as response:
                            location = response.headers.get("location")
                            if response.status_code in REDIRECT_STATUSES and location:
                                break
                            return _body(response, current, field, limit, deadline, host)
                    except httpx.ConnectError as exc:
                        if _is_tls_error(exc) or index == len(addresses) - 1:
                            raise
            except httpx.TimeoutException as exc:
                raise _failed(field, host, "timeout", f"{host} did not answer in time.") from exc
            except httpx.HTTPError as exc:
                reason = "tls" if _is_tls_error(exc) else "connect" if isinstance(exc, httpx.ConnectError) else "http"
                raise _failed(field, host, reason, f"Fetching from {host} failed ({reason}).") from exc
            except (httpx.StreamError, httpx.InvalidURL, OSError) as exc:  # not HTTPError subclasses
                raise _failed(field, host, "http", f"Fetching from {host} failed.") from exc
            if hop == MAX_REDIRECTS:
                raise _failed(field, host, "too_many_redirects", f"More than {MAX_REDIRECTS} redirects.")
            try:
                current = current.join(location)
            except (httpx.InvalidURL, ValueError) as exc:
                raise _failed(field, host, "bad_redirect", "The server redirected to an invalid URL.") from exc
            if current.scheme not in ("http", "https") or not current.host:
                raise WhatsAppError(ErrorCode.MEDIA_URL_FORBIDDEN, "The server redirected to a non-http(s) URL.",
                                    details={"field": field, "host": host})
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _body(response: httpx.Response, url: httpx.URL, field: str, limit: int, deadline: float,
          host: str) -> FetchedMedia:
    if not 200 <= response.status_code < 300:
        raise _failed(field, host, "http_status", f"{host} answered HTTP {response.status_code}.",
                      status=response.status_code)
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(field, limit, int(declared))
    content = _read(response.iter_bytes(), field, limit, deadline, host)
    mime = response.headers.get("content-type", "").split(";", 1)[0].strip().lower() or None
    return FetchedMedia(content=content, mime_type=mime, file_name=_file_name(response, url), final_url=str(url))
