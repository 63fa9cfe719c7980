"""Where a TokenManager keeps its token between renewals and across restarts.

A store is asked twice in a token's life: :meth:`TokenStore.load` once, on the manager's
first use, and :meth:`TokenStore.save` after every renewal **before** any caller receives
the new token (persist before publish), so a rotated refresh token is never only in memory.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from oauthflow.token import Token

__all__ = ["MemoryTokenStore", "TokenStore"]


@runtime_checkable
class TokenStore(Protocol):
    """Persistence for one token (one client, one user, one set of scopes)."""

    async def load(self) -> Token | None:
        """Return the saved token, or ``None`` when there is none."""
        ...

    async def save(self, token: Token) -> None:
        """Persist ``token``, replacing the previous one.

        If this raises, the manager does not publish the token: its callers get the
        error, and the previous token stays current.
        """
        ...


class MemoryTokenStore:
    """Keeps the token in this process only (the default)."""

    __slots__ = ("_token",)

    def __init__(self, token: Token | None = None) -> None:
        self._token = token

    async def load(self) -> Token | None:
        return self._token

    async def save(self, token: Token) -> None:
        self._token = token

    def __repr__(self) -> str:
        return f"MemoryTokenStore(has_token={self._token is not None})"
