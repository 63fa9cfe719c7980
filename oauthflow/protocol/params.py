"""Request members shared by every endpoint's builder: validated name/value pairs.

Spec: RFC 6749 §3.3 (scope), RFC 8707 §2 (resource indicators).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Final, TypeAlias

from oauthflow.errors import ConfigurationError

__all__ = ["Params", "pairs", "refuse_owned", "resource_params", "scope_param"]

Params: TypeAlias = Sequence[tuple[str, str]] | Mapping[str, str]
"""Extra request members: a mapping, or (name, value) pairs when a name repeats."""

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN: Final = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
_URI_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def pairs(params: Params) -> list[tuple[str, str]]:
    """``params`` as a list of (name, value) string pairs, in order."""
    items = list(params.items()) if isinstance(params, Mapping) else list(params)
    for item in items:
        if (
            not isinstance(item, tuple)
            or len(item) != 2
            or not all(isinstance(part, str) for part in item)
        ):
            raise ConfigurationError("parameters must be (name, value) pairs of strings")
        if not item[0]:
            raise ConfigurationError("a parameter name must not be empty")
    return items


def refuse_owned(pairs: Sequence[tuple[str, str]], owned: Collection[str]) -> None:
    for name, _ in pairs:
        if name in owned:
            raise ConfigurationError(f"pass {name!r} as its own argument, not in extra_params")


def scope_param(scope: Sequence[str] | None) -> list[tuple[str, str]]:
    """The ``scope`` member (RFC 6749 §3.3), or nothing for ``None`` / empty.

    "The value of the scope parameter is expressed as a list of space-delimited,
    case-sensitive strings." scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    """
    if scope is None:
        return []
    if isinstance(scope, str):
        raise ConfigurationError('scope must be a sequence of scope tokens, e.g. ["a", "b"]')
    for token in scope:
        if not isinstance(token, str) or not _SCOPE_TOKEN.fullmatch(token):
            raise ConfigurationError(
                "each scope token must be non-empty printable ASCII without space, "
                'double quote or backslash (RFC 6749 §3.3)'
            )
    return [("scope", " ".join(scope))] if scope else []


def resource_params(resource: Sequence[str]) -> list[tuple[str, str]]:
    """One ``resource`` member per URI (RFC 8707 §2).

    "The value of the resource parameter MUST be an absolute URI, as specified by Section
    4.3 of [RFC3986], which MAY include a query component, but MUST NOT include a
    fragment component." "Multiple resource parameters MAY be used".
    """
    if isinstance(resource, str):
        raise ConfigurationError("resource must be a sequence of URIs, not a string")
    for uri in resource:
        if not isinstance(uri, str) or not _URI_SCHEME.match(uri):
            raise ConfigurationError("each resource must be an absolute URI (RFC 8707 §2)")
        if "#" in uri:
            raise ConfigurationError("a resource URI must not have a fragment (RFC 8707 §2)")
    return [("resource", uri) for uri in resource]
