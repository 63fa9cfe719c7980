"""The :class:`Token` value: what a token endpoint returned, immutable, with a redacted repr.

Spec: RFC 6749 §5.1 (successful response), OpenID Connect Core §3.1.3.3 (``id_token``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Token"]


def _secret(value: str | None) -> str:
    return "None" if value is None else "'<redacted>'"


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Token:
    """An access token and what came with it.

    Field names are the wire names of RFC 6749 §5.1, except that ``expires_in`` (relative)
    is stored as ``expires_at`` (absolute, wall-clock seconds since the epoch) computed
    when the response was received, so a stored token keeps its meaning.

    Attributes:
        access_token: the credential sent to APIs. Never shown by ``repr``/``str``.
        token_type: as the server wrote it (compared case-insensitively); ``"Bearer"``.
        expires_at: when the access token stops working, or ``None`` when neither the
            response nor the token itself said (a TokenManager then applies its
            ``default_lifetime``).
        issued_at: wall-clock time at which the response was received.
        refresh_token: long-lived credential for the token endpoint only; never sent to an API.
        scope: the granted scopes, if the server said (RFC 6749 §5.1: it may omit them when
            they equal the requested ones).
        id_token: the OpenID Connect ID token (a JWT), for identity, never for API access.
        extra: every other member of the response, kept as received (values not shown by
            ``repr``, since providers put secrets there too).
    """

    access_token: str
    token_type: str = "Bearer"
    expires_at: float | None = None
    issued_at: float = 0.0
    refresh_token: str | None = None
    scope: tuple[str, ...] | None = None
    id_token: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not isinstance(self.extra, MappingProxyType):
            object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def __repr__(self) -> str:
        return (
            f"Token(token_type={self.token_type!r}, expires_at={self.expires_at!r}, "
            f"scope={self.scope!r}, access_token={_secret(self.access_token)}, "
            f"refresh_token={_secret(self.refresh_token)}, id_token={_secret(self.id_token)}, "
            f"extra_keys={sorted(self.extra)!r})"
        )

    __str__ = __repr__

    def expires_in(self, now: float) -> float | None:
        """Seconds of validity left at wall-clock time ``now`` (negative once expired)."""
        return None if self.expires_at is None else self.expires_at - now

    def is_expired(self, now: float, *, leeway: float = 0.0) -> bool:
        """Whether the token has expired at ``now``, or will within ``leeway`` seconds.

        A token without a known expiry is never expired by this test.
        """
        return self.expires_at is not None and now >= self.expires_at - leeway

    def replace(self, **changes: Any) -> Token:
        """Return a copy with some fields changed (the token itself is immutable)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The token as a JSON-ready dict (for stores). Contains the secrets: protect it."""
        data: dict[str, Any] = dict(self.extra)
        data.update(
            access_token=self.access_token,
            token_type=self.token_type,
            expires_at=self.expires_at,
            issued_at=self.issued_at,
        )
        if self.refresh_token is not None:
            data["refresh_token"] = self.refresh_token
        if self.scope is not None:
            data["scope"] = " ".join(self.scope)
        if self.id_token is not None:
            data["id_token"] = self.id_token
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        """Rebuild a token written by :meth:`to_dict`.

        Raises:
            ValueError: when a field is missing or of the wrong type.
        """
        known = {"access_token", "token_type", "expires_at", "issued_at", "refresh_token",
                 "scope", "id_token"}
        access_token = data.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("stored token has no access_token")
        expires_at = data.get("expires_at")
        if expires_at is not None and not isinstance(expires_at, (int, float)):
            raise ValueError("stored token has a non-numeric expires_at")
        scope = data.get("scope")
        return cls(
            access_token=access_token,
            token_type=str(data.get("token_type", "Bearer")),
            expires_at=None if expires_at is None else float(expires_at),
            issued_at=float(data.get("issued_at", 0.0)),
            refresh_token=_optional_str(data, "refresh_token"),
            scope=None if scope is None else tuple(str(scope).split()),
            id_token=_optional_str(data, "id_token"),
            extra={k: v for k, v in data.items() if k not in known},
        )


def _optional_str(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"stored token field {name} is not a string")
    return value
