"""Device runners load lean settings: no admin, no REST API app, no Celery (100 share one machine)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.processes import PROJECT_ROOT, clean_env

PROBE = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from django.conf import settings
import whatsapp.runtime.runner
print(json.dumps({"apps": settings.INSTALLED_APPS, "ninja": "ninja" in sys.modules,
                  "admin": "django.contrib.admin" in sys.modules, "celery": "celery" in sys.modules}))
"""


def probe(role: str) -> dict:
    env = clean_env(GATEWAY_ROLE=role, DATA_DIR="/tmp/wag-runner-settings-probe")
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_runner_loads_neither_the_admin_nor_the_api_nor_celery() -> None:
    runner = probe("runner")
    assert not {"ninja", "django.contrib.admin", "django_celery_beat"} & set(runner["apps"])
    assert not runner["ninja"]
    assert not runner["admin"]
    assert not runner["celery"]


def test_other_processes_keep_them() -> None:
    web = probe("web")
    assert {"ninja", "django.contrib.admin", "django_celery_beat"} <= set(web["apps"])
    assert web["celery"]

