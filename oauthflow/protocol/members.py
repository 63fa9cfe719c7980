"""Reading members of a JSON response: typed errors that name the member, never its value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oauthflow.errors import InvalidResponseError

__all__ = ["invalid", "optional_str", "required_str"]


def invalid(code: str, message: str, status: int) -> InvalidResponseError:
    return InvalidResponseError(code, message, status=status)


def required_str(document: Mapping[str, Any], name: str, status: int) -> str:
    value = document.get(name)
    if value is None or value == "":
        raise invalid(InvalidResponseError.MISSING_FIELD, f"member {name!r} is missing", status)
    if not isinstance(value, str):
        raise invalid(
            InvalidResponseError.INVALID_FIELD_TYPE, f"member {name!r} must be a string", status
        )
    return value


def optional_str(document: Mapping[str, Any], name: str, status: int) -> str | None:
    value = document.get(name)
    if value is None or isinstance(value, str):
        return value
    raise invalid(
        InvalidResponseError.INVALID_FIELD_TYPE, f"member {name!r} must be a string", status
    )
