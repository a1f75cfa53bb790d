"""Every environment variable the gateway reads, declared once.

Settings read their values through :func:`read`, and the README's configuration table is generated
from :data:`VARIABLES` (``python manage.py config_table``; a test fails when the README differs), so
the documentation cannot drift from what the code accepts.

Values are parsed strictly: a boolean must be one of ``true/1/yes/on`` or ``false/0/no/off`` and a
number must be a whole number within its bounds. Anything else stops the process at start-up with
a message naming the variable, instead of silently meaning "off" or "unlimited".
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class Variable:
    """One documented environment variable."""

    name: str
    kind: str  # "str", "bool", "int", "float", "list" or "choice"
    default: Any
    help: str
    group: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    # How the default reads in the docs when it is computed at start-up (e.g. from DATA_DIR).
    documented_default: str | None = None
    secret: bool = field(default=False)

    def describe_default(self) -> str:
        if self.documented_default is not None:
            return self.documented_default
        if self.kind == "bool":
            return "true" if self.default else "false"
        if self.kind == "list":
            return ",".join(self.default) if self.default else "(empty)"
        if self.default in ("", None):
            return "(empty)"
        return str(self.default)


G_CORE = "Core"
G_STORE = "Storage and topology"
G_WA = "WhatsApp"
G_POLICY = "Policies and limits"
G_API = "API and webhooks"

VARIABLES: tuple[Variable, ...] = (
    # --- core -------------------------------------------------------------------------------
    Variable("SECRET_KEY", "str", "", "Django secret key. When empty, one is generated once and kept in "
             "`DATA_DIR/secret_key`.", G_CORE, documented_default="(generated)", secret=True),
    Variable("DEBUG", "bool", False, "Django debug mode. Never on in production.", G_CORE),
    Variable("ALLOWED_HOSTS", "list", ["localhost", "127.0.0.1", "[::1]"],
             "Host names the web process answers to (comma-separated).", G_CORE),
    Variable("CSRF_TRUSTED_ORIGINS", "list", [],
             "Origins trusted for admin form posts behind a proxy, e.g. `https://wa.example.com`.", G_CORE),
    Variable("TZ", "str", "UTC", "Time zone used to render times (approval expiry, MCP texts). Stored "
             "times are always UTC.", G_CORE),
    Variable("LOG_LEVEL", "choice", "INFO", "Log level of every process (logs go to stderr).", G_CORE,
             choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    # --- storage and topology ---------------------------------------------------------------
    Variable("DATA_DIR", "str", "var", "Directory for the embedded SQLite database, the generated secret "
             "key and media (relative paths are relative to the project root).", G_STORE),
    Variable("DATABASE_URL", "str", "", "Database URL. Empty: SQLite at `DATA_DIR/gateway.sqlite3` (WAL, "
             "busy timeout). `postgres://user@host:5432/db` switches to PostgreSQL (psycopg 3).", G_STORE,
             documented_default="(embedded SQLite)"),
    Variable("DATABASE_CONN_MAX_AGE", "int", 60, "Seconds a PostgreSQL connection is reused (0 closes it "
             "after each request).", G_STORE, minimum=0),
    Variable("DATABASE_POOL_MAX", "int", 16, "PostgreSQL connections the web process keeps in its pool "
             "(requests share them); 0 opens one per request instead.", G_STORE, minimum=0, maximum=500),
    Variable("REDIS_URL", "str", "", "Redis URL. Empty: embedded mode (in-process task execution and "
             "channel layer). Set: Celery broker + result backend and the channels-redis layer "
             "(distributed mode).", G_STORE),
    Variable("CELERY_BROKER_URL", "str", "", "Overrides the Celery broker (default: `REDIS_URL`, or the "
             "in-process `memory://` broker in embedded mode).", G_STORE, documented_default="(REDIS_URL)"),
    Variable("CELERY_RESULT_BACKEND", "str", "", "Overrides the Celery result backend (default: "
             "`REDIS_URL`, or in-process memory).", G_STORE, documented_default="(REDIS_URL)"),
    Variable("MEDIA_ROOT", "str", "", "Where media files are stored "
             "(`media/{app_id}/{device_id}-{message_id}.{ext}` below it).", G_STORE,
             documented_default="DATA_DIR"),
    Variable("STATIC_ROOT", "str", "", "Where `collectstatic` puts admin assets (served by WhiteNoise).",
             G_STORE, documented_default="DATA_DIR/static"),
    Variable("MESSAGE_RETENTION_DAYS", "int", 90, "Messages, their media, search entries and old approvals "
             "older than this are purged hourly.", G_STORE, minimum=1),
    Variable("AUDIT_RETENTION_DAYS", "int", 365, "Audit rows older than this are purged.", G_STORE, minimum=1),
    Variable("DATA_ENCRYPTION_KEY", "str", "", "Base64 32-byte key for AES-256-GCM field encryption of "
             "message bodies, names, previews, media metadata, approval texts and audit details. Empty: "
             "no encryption.", G_STORE, secret=True),
    # --- WhatsApp ---------------------------------------------------------------------------
    Variable("WHATSAPP_ENGINE", "choice", "neonize", "WhatsApp client: `neonize` (real WhatsApp) or "
             "`simulator` (a faithful fake network for tests and demos).", G_WA,
             choices=("neonize", "simulator")),
    Variable("SIMULATOR_TIME_SCALE", "float", 1.0, "Speed of the simulator's clock: QR lifetimes, receipts "
             "and delays are multiplied by it (0.05 makes the 160 s QR window last 8 s).", G_WA, minimum=0),
    Variable("AUTO_CONNECT_ON_STARTUP", "bool", True, "Reconnect every previously connected device when the "
             "fleet starts.", G_WA),
    Variable("SEND_READ_RECEIPTS", "bool", True, "Send WhatsApp read receipts when messages are marked read.",
             G_WA),
    Variable("AUTO_READ_RECEIPTS", "bool", True, "Mark incoming messages read on WhatsApp as they are "
             "received.", G_WA),
    Variable("PRESENCE_MODE", "choice", "unavailable", "Presence the linked account shows. `unavailable` "
             "keeps notifications on the phone.", G_WA, choices=("available", "unavailable")),
    Variable("WELCOME_GROUP_NAME", "str", "", "Group created once per newly linked session as a "
             "welcome space; empty disables it.", G_WA),
    Variable("AUTH_WAIT_FOR_LINK", "bool", False, "Default of the MCP `authenticate` tool's `waitForLink`.",
             G_WA),
    Variable("AUTH_LINK_TIMEOUT_SEC", "int", 120, "Default `linkTimeoutSec` of `authenticate` (15-600).",
             G_WA, minimum=15, maximum=600),
    Variable("AUTH_POLL_INTERVAL_SEC", "int", 5, "Default `pollIntervalSec` of `authenticate` (2-60).", G_WA,
             minimum=2, maximum=60),
    Variable("HEALTH_CHECK_INTERVAL_SEC", "int", 60, "Heartbeat interval that detects silent disconnects.",
             G_WA, minimum=5),
    Variable("RECONNECT_DELAYS_SEC", "list", ["5", "10", "20", "40", "80"], "Delays before each reconnect "
             "attempt after a transient drop (seed 000); after the last one the device is `disconnected`.",
             G_WA),
    Variable("FLEET_LEASE_TTL_SEC", "int", 20, "How long a fleet's hold on a device lasts without renewal; "
             "after a fleet dies, others take its devices over once this has passed.", G_WA, minimum=2),
    Variable("AUTO_DOWNLOAD_MEDIA", "bool", False, "Download inbound media as it arrives instead of on "
             "demand.", G_WA),
    # --- policies and limits ----------------------------------------------------------------
    Variable("ALLOWED_CONTACTS", "list", [], "Default whitelist (phone numbers or exact JIDs, "
             "comma-separated) for every outbound and read path; empty allows everyone. Apps and devices "
             "can override it.", G_POLICY),
    Variable("DISABLED_TOOLS", "list", [], "MCP tool names refused with `PERMISSION_TOOL_DISABLED` "
             "(comma-separated, case-sensitive).", G_POLICY),
    Variable("RATE_LIMIT_PER_MIN", "int", 60, "Outbound operations per device per sliding minute.", G_POLICY,
             minimum=1),
    Variable("DOWNLOAD_RATE_LIMIT_PER_MIN", "int", 30, "Media downloads per device per sliding minute.",
             G_POLICY, minimum=1),
    Variable("MEDIA_QUOTA_MB", "int", 512, "Stored media per app, in MiB.", G_POLICY, minimum=1),
    Variable("MEDIA_MAX_BYTES", "int", 64 * 1024 * 1024, "Largest media file accepted or downloaded.",
             G_POLICY, minimum=1),
    Variable("UPLOAD_DIRS", "list", [], "Directories the MCP `send_file` tool may send files from "
             "(comma-separated absolute paths; symlinks and `..` are resolved before the check).", G_POLICY,
             documented_default="MEDIA_ROOT/media,/tmp"),
    Variable("REQUEST_MAX_BYTES", "int", 96 * 1024 * 1024, "Largest request body (`request_too_large` "
             "above it); leaves room for 64 MiB of base64 media.", G_POLICY, minimum=1024),
    # --- API and webhooks -------------------------------------------------------------------
    Variable("JWT_SECRET", "str", "", "Secret that signs the `/apps` admin JWTs (`manage.py issue_jwt`). "
             "Empty: derived from `SECRET_KEY`.", G_API, secret=True),
    Variable("SEND_WAIT_SECONDS", "int", 20, "How long `POST /devices/{id}/messages` waits for WhatsApp's "
             "ack before answering 202 `queued`.", G_API, minimum=0, maximum=120),
    Variable("API_RATE_LIMIT_PER_MIN", "int", 6000, "REST requests per app per minute (`rate_limit_exceeded` "
             "429 above it, with `Retry-After` and `X-RateLimit-*`); 0 disables the limiter.", G_API, minimum=0),
    Variable("WEBHOOK_BASE_URL", "str", "", "Base URL that relative app webhook paths are joined to.", G_API),
    Variable("WEBHOOK_TIMEOUT_S", "int", 10, "Seconds one webhook attempt may take (connect, send, answer) "
             "before it counts as failed.", G_API, minimum=1, maximum=60),
    Variable("WEBHOOK_RETRY_DELAYS_S", "list", ["10", "30", "90"], "Waits after the first failed webhook "
             "attempts (wa-server's schedule); later waits grow 3-fold each (with jitter, at most 6 h).", G_API),
    Variable("WEBHOOK_RETRY_WINDOW_S", "int", 86400, "How long a failing delivery is retried (10 s, 30 s, "
             "90 s, then exponential with jitter) before it is dead-lettered.", G_API, minimum=60),
    Variable("WEBHOOK_ENDPOINT_CONCURRENCY", "int", 12, "Streams (one per app and device) delivering to one "
             "receiver (scheme, host, port) at once; never more than half a worker's threads, so a slow "
             "receiver cannot take every worker.", G_API, minimum=1, maximum=256),
    Variable("WEBHOOK_SECRET_OVERLAP_S", "int", 86400, "After a webhook secret changes, how long deliveries "
             "are signed with the old secret too.", G_API, minimum=0),
    Variable("WEBHOOK_DELIVERY_RETENTION_DAYS", "int", 30, "Finished deliveries (succeeded or dead) and their "
             "attempt logs older than this are purged hourly; 0 keeps them.", G_API, minimum=0),
    Variable("ALLOW_PRIVATE_URLS", "bool", False, "Let media URLs and webhooks reach private, loopback and "
             "link-local addresses (tests and trusted networks only).", G_API),
)

_BY_NAME = {variable.name: variable for variable in VARIABLES}


def parse_bool(name: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean: use one of {sorted(TRUE_WORDS)} or {sorted(FALSE_WORDS)}."
    )


def parse(variable: Variable, raw: str) -> Any:
    """Turn the raw text of ``variable`` into its typed value, or raise ImproperlyConfigured."""
    name = variable.name
    if variable.kind == "bool":
        return parse_bool(name, raw)
    if variable.kind == "int":
        try:
            number = int(raw.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
        if variable.minimum is not None and number < variable.minimum:
            raise ImproperlyConfigured(f"{name}={number} is below its minimum of {variable.minimum}.")
        if variable.maximum is not None and number > variable.maximum:
            raise ImproperlyConfigured(f"{name}={number} is above its maximum of {variable.maximum}.")
        return number
    if variable.kind == "float":
        try:
            number = float(raw.strip())
        except ValueError:
            raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
        if variable.minimum is not None and number <= variable.minimum:
            raise ImproperlyConfigured(f"{name}={number} must be above {variable.minimum}.")
        return number
    if variable.kind == "list":
        return [item.strip() for item in raw.split(",") if item.strip()]
    if variable.kind == "choice":
        value = raw.strip()
        if value not in variable.choices:
            raise ImproperlyConfigured(f"{name}={raw!r} must be one of {', '.join(variable.choices)}.")
        return value
    return raw


def read(name: str, environ: dict[str, str] | None = None) -> Any:
    """The typed value of a declared variable; its default when unset or blank."""
    variable = _BY_NAME[name]
    source = os.environ if environ is None else environ
    raw = source.get(name)
    if raw is None or (raw.strip() == "" and variable.kind != "str"):
        default = variable.default
        return list(default) if isinstance(default, list) else default
    return parse(variable, raw)


def markdown_table() -> str:
    """The README's configuration table, grouped as declared."""
    lines: list[str] = []
    group = None
    for variable in VARIABLES:
        if variable.group != group:
            group = variable.group
            if lines:
                lines.append("")
            lines += [f"**{group}**", "", "| variable | default | meaning |", "|---|---|---|"]
        default = variable.describe_default().replace("|", "\\|")
        meaning = variable.help
        if variable.choices:
            meaning += f" One of: {', '.join(f'`{c}`' for c in variable.choices)}."
        lines.append(f"| `{variable.name}` | `{default}` | {meaning} |")
    return "\n".join(lines) + "\n"


def env_example() -> str:
    """``.env.example``: every variable, commented out at its default, so copying it changes nothing."""
    lines = [
        "# WhatsApp gateway configuration. Generated by `python manage.py configdoc`; do not edit by hand.",
        "# Copy to .env and uncomment what you change. Real environment variables win over .env.",
    ]
    group = None
    for variable in VARIABLES:
        if variable.group != group:
            group = variable.group
            lines += ["", f"# ===== {group} ====="]
        lines.append(f"# {variable.help.replace('`', '')}")
        value = "" if variable.documented_default is not None else variable.describe_default()
        lines.append(f"#{variable.name}={'' if value == '(empty)' else value}")
    return "\n".join(lines) + "\n"


def load_dotenv(path: os.PathLike[str] | str) -> None:
    """Read ``KEY=value`` lines from a ``.env`` file into the environment without overriding it."""
    import environ

    if os.path.exists(path):
        environ.Env.read_env(str(path), overwrite=False)
