"""Fixtures of the integration tests that run Celery workers: a private Redis (the broker, and the
test process's wake-ups) and a worker subprocess on the test's PostgreSQL database."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.support.processes import clean_env, private_redis


@pytest.fixture
def redis_url(tmp_path, settings):
    with private_redis(tmp_path) as (url, _):
        settings.REDIS_URL = url  # the test process wakes the worker's dispatcher through this Redis
        yield url


@pytest.fixture
def worker_env(tmp_path, redis_url):
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    return clean_env(DATABASE_URL=database_url, REDIS_URL=redis_url, ALLOW_PRIVATE_URLS="true",
                     WEBHOOK_RETRY_DELAYS_S="1,2,3", WEBHOOK_TIMEOUT_S="3", DATA_DIR=str(tmp_path / "data"),
                     SECRET_KEY="integration-" + "k" * 40, LOG_LEVEL="INFO")
