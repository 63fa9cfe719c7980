"""KeyringTokenStore with an in-memory keyring backend (set with ``keyring.set_keyring``),
alone and behind a TokenManager that outlives a "restart"."""

from __future__ import annotations

import json
from collections.abc import Iterator

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend

from oauthflow import ClientConfig, TokenManager, TokenStore
from oauthflow.errors import ConfigurationError, TokenUnavailableError
from oauthflow.store.keyring import KeyringTokenStore
from oauthflow.testing import AuthorizationServer
from oauthflow.token import Token
from tests.stores.support import CLIENT_ID, CLIENT_SECRET, expired, login

pytestmark = pytest.mark.asyncio

TOKEN = Token(access_token="at-keyring-secret", refresh_token="rt-keyring-secret",
              expires_at=2e9, scope=("read",))


class MemoryKeyring(KeyringBackend):
    """A keyring that keeps passwords in a dict (what a test needs, nothing more)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("no such entry")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """The in-memory backend as *the* keyring for the test; the previous one afterwards."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


async def test_round_trip_through_the_system_keyring(memory_keyring: MemoryKeyring) -> None:
    store = KeyringTokenStore("my-cli", "alice")
    assert isinstance(store, TokenStore)
    assert await store.load() is None
    await store.save(TOKEN)
    assert list(memory_keyring.entries) == [("my-cli", "alice")]
    document = json.loads(memory_keyring.entries[("my-cli", "alice")])
    assert document == {"oauthflow_token": 1, "token": TOKEN.to_dict()}
    assert await KeyringTokenStore("my-cli", "alice").load() == TOKEN
    assert await KeyringTokenStore("my-cli", "bob").load() is None


async def test_clear_deletes_the_entry_and_is_idempotent(memory_keyring: MemoryKeyring) -> None:
    store = KeyringTokenStore("my-cli", "alice")
    await store.save(TOKEN)
    await store.clear()
    assert memory_keyring.entries == {}
    await store.clear()
    assert await store.load() is None


async def test_an_explicit_backend_is_used_instead_of_the_system_keyring(
    memory_keyring: MemoryKeyring,
) -> None:
    own = MemoryKeyring()
    store = KeyringTokenStore("my-cli", "alice", backend=own)
    await store.save(TOKEN)
    assert list(own.entries) == [("my-cli", "alice")]
    assert memory_keyring.entries == {}


async def test_an_entry_that_is_not_a_token_is_refused_without_showing_it(
    memory_keyring: MemoryKeyring,
) -> None:
    memory_keyring.entries[("my-cli", "alice")] = "rt-keyring-secret"
    with pytest.raises(TokenUnavailableError, match=r"keyring entry my-cli/alice .*not JSON"
                       ) as raised:
        await KeyringTokenStore("my-cli", "alice").load()
    assert "secret" not in str(raised.value)


async def test_names_are_required_and_repr_shows_no_secret(
    memory_keyring: MemoryKeyring,
) -> None:
    with pytest.raises(ConfigurationError):
        KeyringTokenStore("", "alice")
    store = KeyringTokenStore("my-cli", "alice")
    await store.save(TOKEN)
    assert repr(store) == "KeyringTokenStore(service='my-cli', username='alice')"


async def test_a_cli_login_survives_a_restart_and_a_rotation(
    memory_keyring: MemoryKeyring, oauth_server: AuthorizationServer,
) -> None:
    """First run: the stored token has expired, the manager refreshes and saves the rotated
    refresh token. Second run ("after a restart"): the saved token is used, no request."""
    logged_in = await login(oauth_server)
    await KeyringTokenStore("my-cli", "alice").save(expired(logged_in))
    oauth_server.reset_counters()
    client = ClientConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)

    async with TokenManager.for_refresh_token(
        client=client, token_endpoint=oauth_server.token_endpoint,
        store=KeyringTokenStore("my-cli", "alice"),
    ) as first_run:
        renewed = await first_run.get()
    assert oauth_server.counters.grants["refresh_token"] == 1
    assert renewed.refresh_token != logged_in.refresh_token
    assert await KeyringTokenStore("my-cli", "alice").load() == renewed

    async with TokenManager.for_refresh_token(
        client=client, token_endpoint=oauth_server.token_endpoint,
        store=KeyringTokenStore("my-cli", "alice"),
    ) as second_run:
        assert await second_run.get() == renewed
    assert oauth_server.counters.requests["token"] == 1
