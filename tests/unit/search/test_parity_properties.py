"""Property: on SQLite, search returns exactly what the pure-Python reference evaluation of the same
query over the same messages returns — through FTS5, and through the LIKE fallback."""

from __future__ import annotations

import logging

import pytest
from django.db.models import Q
from django.db.models.expressions import RawSQL
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import make_device
from tests.unit.search.strategies import body, check_parity, parity_settings, query
from whatsapp.search import service

pytestmark = pytest.mark.django_db


@pytest.fixture
def device():
    return make_device()


@parity_settings
@given(bodies=st.lists(body, min_size=1, max_size=14), queries=st.lists(query, min_size=1, max_size=4),
       edited=st.integers(0, 2), revoked=st.integers(0, 2))
def test_fts5_answers_like_the_reference(device, caplog, bodies, queries, edited, revoked) -> None:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="whatsapp.search"):
        check_parity(device, bodies, queries, edited=edited, revoked=revoked)
    assert "SEARCH_FTS_UNAVAILABLE" not in caplog.text


def _broken_index(node):
    return Q(pk__in=RawSQL("SELECT rowid FROM whatsapp_message_fts_missing", []))


@parity_settings
@given(bodies=st.lists(body, min_size=1, max_size=14), queries=st.lists(query, min_size=1, max_size=4),
       edited=st.integers(0, 2))
def test_the_fallback_answers_like_the_reference(device, monkeypatch, settings, tmp_path, bodies, queries,
                                                 edited) -> None:
    settings.DATA_DIR = tmp_path
    with monkeypatch.context() as patch:
        patch.setattr(service, "fts5_condition", _broken_index)
        check_parity(device, bodies, queries, edited=edited)
