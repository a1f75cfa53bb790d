"""Argument validation against a tool's own input schema (reference §1.4 step 2).

The schema ``tools/list`` publishes is the one enforced here, so the two cannot drift. The first
problem found is reported as ``VALIDATION_ERROR`` naming the field, the bound and what was received.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from whatsapp.errors import ErrorCode, WhatsAppError
from whatsapp.mcp.tooling import ToolSpec

_validators: dict[str, Draft202012Validator] = {}


def _validator(spec: ToolSpec) -> Draft202012Validator:
    validator = _validators.get(spec.name)
    if validator is None:
        validator = _validators[spec.name] = Draft202012Validator(spec.input_schema())
    return validator


def _field(error: ValidationError) -> str:
    path = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "required":
        return str(error.message.split("'")[1]) if "'" in error.message else path
    if error.validator == "additionalProperties" and "'" in error.message:
        return error.message.split("'")[1]
    return path or "arguments"


def _explain(error: ValidationError, field: str) -> str:
    bound = error.validator_value
    match error.validator:
        case "required":
            return f"{field} is required."
        case "additionalProperties":
            return f"Unknown argument {field!r}."
        case "type":
            return f"{field} must be of type {bound}, not {type(error.instance).__name__}."
        case "maxLength":
            return f"{field} is longer than {bound} characters ({len(error.instance)})."
        case "minLength":
            return f"{field} must not be empty." if bound == 1 else f"{field} needs at least {bound} characters."
        case "maximum":
            return f"{field} must be at most {bound} (got {error.instance})."
        case "minimum":
            return f"{field} must be at least {bound} (got {error.instance})."
        case "maxItems":
            return f"{field} holds more than {bound} items ({len(error.instance)})."
        case "minItems":
            return f"{field} needs at least {bound} item{'s' if bound != 1 else ''}."
        case "enum":
            return f"{field} must be one of {', '.join(map(str, bound))} (got {error.instance!r})."
    return f"{field}: {error.message}"


def validate(spec: ToolSpec, raw: Any) -> dict[str, Any]:
    """The arguments with defaults filled in, or ``VALIDATION_ERROR`` for the first problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, "Arguments must be a JSON object.",
                            details={"field": "arguments"})
    error = next(iter(sorted(_validator(spec).iter_errors(raw), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        field = _field(error)
        raise WhatsAppError(ErrorCode.VALIDATION_ERROR, _explain(error, field),
                            details={"field": field, "constraint": error.validator})
    values = {p.name: p.schema["default"] for p in spec.params if "default" in p.schema}
    values.update(raw)
    return values
