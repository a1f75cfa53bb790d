"""Shapes shared by every endpoint: the ``{"data": …}`` success envelope, the error envelope, and the
strict base class request bodies use (unknown fields are a ``validation_error``, not ignored)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from ninja import Schema
from pydantic import ConfigDict, Field

T = TypeVar("T")


class Body(Schema):
    """A request body: unknown fields are refused so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid")


class Data(Schema, Generic[T]):
    """wa-server's success envelope."""

    data: T


class ErrorBody(Schema):
    code: str = Field(description="The error's lower-case code (the shared enum's `api_code`).")
    message: str
    details: dict[str, Any] = Field(default_factory=dict,
                                    description="`field` on validation errors; other context by code.")
    name: str = Field(description="The error's UPPER code, as MCP tools report it.")
    status: int
    category: str = Field(description="transient, permanent, client_error or unknown.")
    retryable: bool
    recovery: str


class ErrorEnvelope(Schema):
    error: ErrorBody
    request_id: str | None


class Ok(Schema):
    ok: bool = True
