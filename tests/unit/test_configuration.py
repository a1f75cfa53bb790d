"""Environment variables parse strictly, and their documentation is generated from one declaration."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db.utils import ConnectionHandler

from config import environment
from config.settings import BASE_DIR, SQLITE_OPTIONS


@pytest.mark.parametrize("raw", ["true", "1", "yes", "on", " TRUE ", "On"])
def test_true_words(raw):
    assert environment.read("DEBUG", {"DEBUG": raw}) is True


@pytest.mark.parametrize("raw", ["false", "0", "no", "off"])
def test_false_words(raw):
    assert environment.read("AUTO_READ_RECEIPTS", {"AUTO_READ_RECEIPTS": raw}) is False


def test_a_boolean_that_is_not_one_stops_startup():
    with pytest.raises(ImproperlyConfigured, match="SEND_READ_RECEIPTS"):
        environment.read("SEND_READ_RECEIPTS", {"SEND_READ_RECEIPTS": "maybe"})


def test_blank_means_default():
    assert environment.read("SEND_READ_RECEIPTS", {"SEND_READ_RECEIPTS": ""}) is True
    assert environment.read("RATE_LIMIT_PER_MIN", {}) == 60


@pytest.mark.parametrize("raw", ["abc", "0", "-5", "1.5"])
def test_rate_limit_must_be_a_positive_whole_number(raw):
    with pytest.raises(ImproperlyConfigured, match="RATE_LIMIT_PER_MIN"):
        environment.read("RATE_LIMIT_PER_MIN", {"RATE_LIMIT_PER_MIN": raw})


def test_bounded_numbers_refuse_values_outside_their_range():
    assert environment.read("AUTH_LINK_TIMEOUT_SEC", {"AUTH_LINK_TIMEOUT_SEC": "600"}) == 600
    with pytest.raises(ImproperlyConfigured, match="maximum of 600"):
        environment.read("AUTH_LINK_TIMEOUT_SEC", {"AUTH_LINK_TIMEOUT_SEC": "601"})


def test_choices_are_enforced():
    assert environment.read("WHATSAPP_ENGINE", {"WHATSAPP_ENGINE": "simulator"}) == "simulator"
    with pytest.raises(ImproperlyConfigured, match="neonize, simulator"):
        environment.read("WHATSAPP_ENGINE", {"WHATSAPP_ENGINE": "whatsmeow"})


def test_lists_are_comma_separated_and_trimmed():
    raw = " +15145551234, 123@g.us ,,"
    assert environment.read("ALLOWED_CONTACTS", {"ALLOWED_CONTACTS": raw}) == ["+15145551234", "123@g.us"]


def test_seed_variables_keep_their_names_and_defaults():
    defaults = {v.name: v.default for v in environment.VARIABLES}
    assert defaults["RATE_LIMIT_PER_MIN"] == 60
    assert defaults["DOWNLOAD_RATE_LIMIT_PER_MIN"] == 30
    assert defaults["MESSAGE_RETENTION_DAYS"] == 90
    assert defaults["WELCOME_GROUP_NAME"] == ""
    for name in ("DATA_ENCRYPTION_KEY", "ALLOWED_CONTACTS", "DISABLED_TOOLS", "SEND_READ_RECEIPTS",
                 "AUTO_READ_RECEIPTS", "PRESENCE_MODE", "AUTO_CONNECT_ON_STARTUP", "AUTH_WAIT_FOR_LINK",
                 "AUTH_LINK_TIMEOUT_SEC", "AUTH_POLL_INTERVAL_SEC", "TZ"):
        assert name in defaults


def test_every_variable_is_documented_in_readme_and_env_example():
    call_command("configdoc", "--check")
    readme = (BASE_DIR / "README.md").read_text()
    example = (BASE_DIR / ".env.example").read_text()
    for variable in environment.VARIABLES:
        assert f"| `{variable.name}` |" in readme
        assert f"#{variable.name}=" in example


def test_configdoc_check_fails_on_a_stale_readme(settings, tmp_path):
    (tmp_path / "README.md").write_text((BASE_DIR / "README.md").read_text().replace("`RATE_LIMIT_PER_MIN`", "`X`"))
    (tmp_path / ".env.example").write_text((BASE_DIR / ".env.example").read_text())
    settings.BASE_DIR = tmp_path
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"README\.md"):
        call_command("configdoc", "--check")


def test_every_settings_read_is_declared():
    """settings.py reads nothing that the docs do not describe."""
    import re

    source = (BASE_DIR / "config" / "settings.py").read_text()
    declared = {v.name for v in environment.VARIABLES}
    assert set(re.findall(r'read\("([A-Z_]+)"\)', source)) <= declared


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    handler = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3",
                                             "NAME": str(tmp_path / "t.sqlite3"), "OPTIONS": dict(SQLITE_OPTIONS)}})
    connection = handler["default"]
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] == 20000
    connection.close()


def _settings_in_subprocess(extra_env: dict[str, str], tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings", **extra_env})
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'mode': s.GATEWAY_MODE, 'engine': s.DATABASES['default']['ENGINE'], "
        "'broker': s.CELERY_BROKER_URL, 'backend': s.CELERY_RESULT_BACKEND, "
        "'layer': s.CHANNEL_LAYERS['default']['BACKEND']}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_no_redis_means_embedded_topology(tmp_path):
    got = _settings_in_subprocess({}, tmp_path)
    assert got == {"mode": "embedded", "engine": "django.db.backends.sqlite3", "broker": "memory://",
                   "backend": "cache+memory://", "layer": "channels.layers.InMemoryChannelLayer"}
    assert (tmp_path / "secret_key").exists()


def test_database_and_redis_urls_switch_to_distributed_topology(tmp_path):
    got = _settings_in_subprocess(
        {"DATABASE_URL": "postgres://u@db.example:5432/gw", "REDIS_URL": "redis://cache.example:6379/0"}, tmp_path
    )
    assert got == {"mode": "distributed", "engine": "django.db.backends.postgresql",
                   "broker": "redis://cache.example:6379/0", "backend": "redis://cache.example:6379/0",
                   "layer": "channels_redis.core.RedisChannelLayer"}
