"""A CLI login kept in the operating system's keyring: :class:`KeyringTokenStore` (extra
``keyring``).

The token is one password entry (``service``, ``username``) holding the JSON document of
:mod:`oauthflow.store._codec`. The keyring (macOS Keychain, Windows Credential Locker,
Secret Service on Linux desktops) encrypts it at rest and shows it only to the user.

It is a plain :class:`~oauthflow.stores.TokenStore`: one user's one process at a time (a
CLI). Keyrings have no compare-and-swap and no lock, so processes that must share a
renewal use :class:`~oauthflow.store.file.FileTokenStore` or
:class:`~oauthflow.store.redis.RedisTokenStore` instead.
"""

from __future__ import annotations

import asyncio

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from oauthflow.errors import ConfigurationError
from oauthflow.store._codec import decode, encode
from oauthflow.token import Token

__all__ = ["KeyringTokenStore"]


class KeyringTokenStore:
    """Keeps the token in the OS keyring under ``service`` / ``username``.

    Args:
        service: the keyring's service name, e.g. ``"my-cli"``.
        username: the entry within the service, e.g. the account or profile name.
        backend: a keyring backend to use instead of the one ``keyring`` selected for
            this machine (``keyring.get_keyring()``), e.g. in tests.

    Keyring backends block (D-Bus, the Keychain), so every call runs in a worker thread.
    Errors of the backend (``keyring.errors.KeyringError``, e.g. a locked keyring)
    propagate; an entry that is not an oauthflow token makes :meth:`load` raise
    :class:`~oauthflow.errors.TokenUnavailableError`.
    """

    __slots__ = ("_backend", "_service", "_username")

    def __init__(self, service: str, username: str, *,
                 backend: KeyringBackend | None = None) -> None:
        if not service or not username:
            raise ConfigurationError("service and username must be non-empty")
        self._service = service
        self._username = username
        self._backend = backend

    async def load(self) -> Token | None:
        """The stored token, or ``None``.

        Cancellation: the backend call runs in a worker thread and finishes on its own.
        """
        raw = await asyncio.to_thread(self._keyring().get_password, self._service,
                                      self._username)
        if raw is None:
            return None
        token, _ = decode(raw, f"keyring entry {self._service}/{self._username}")
        return token

    async def save(self, token: Token) -> None:
        """Replace the stored token. Cancellation: as for :meth:`load`."""
        document = encode(token).decode("utf-8")
        await asyncio.to_thread(self._keyring().set_password, self._service, self._username,
                                document)

    async def clear(self) -> None:
        """Delete the entry (a logout); nothing happens if there is none."""
        await asyncio.to_thread(self._delete)

    def _delete(self) -> None:
        backend = self._keyring()
        if backend.get_password(self._service, self._username) is None:
            return
        try:
            backend.delete_password(self._service, self._username)
        except keyring.errors.PasswordDeleteError:
            return  # deleted meanwhile

    def _keyring(self) -> KeyringBackend:
        return self._backend if self._backend is not None else keyring.get_keyring()

    def __repr__(self) -> str:
        return f"KeyringTokenStore(service={self._service!r}, username={self._username!r})"
