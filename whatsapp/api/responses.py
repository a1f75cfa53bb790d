"""Documented responses: each operation lists its success schema and the error statuses it can
answer, so the OpenAPI document tells the truth (schemathesis checks it in CI)."""

from __future__ import annotations

from typing import Any

from whatsapp.api.schemas import ErrorEnvelope
from whatsapp.errors import ErrorCode

# What any authenticated operation may answer: bad input, a bad token, the request limiter, and the
# gateway's own failures.
COMMON = (ErrorCode.VALIDATION_ERROR, ErrorCode.INVALID_API_KEY, ErrorCode.MESSAGE_RATE_LIMITED,
          ErrorCode.INTERNAL_ERROR, ErrorCode.SERVICE_UNAVAILABLE)


def responses(success: dict[int, Any], *codes: ErrorCode, common: tuple[ErrorCode, ...] = COMMON) -> dict[int, Any]:
    """``success`` plus an error envelope for the status of every member in ``codes`` and ``common``."""
    documented: dict[int, Any] = dict(success)
    for code in (*common, *codes):
        documented.setdefault(code.status, ErrorEnvelope)
    return documented
