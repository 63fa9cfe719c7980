"""``oauthflow login`` against oauthflow.testing: device flow (child process, approved and
denied), the browser login through the loopback receiver, profiles and stores (integration)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import keyring
import pytest

from oauthflow.cli.profiles import KEYRING_SERVICE
from oauthflow.store._codec import decode
from oauthflow.testing import AuthorizationServer
from tests.stores.test_keyring_store import MemoryKeyring

from .conftest import (
    PUBLIC,
    SCOPE,
    SECRET,
    SERVICE,
    device_login,
    exists,
    files_under,
    logged_in_directly,
    mode,
    profiles_document,
    stored_token,
)
from .support import TIMEOUT, CliProcess, child_env, invoke

pytestmark = pytest.mark.asyncio

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


async def test_device_login_stores_the_profile_and_the_token(
    server: AuthorizationServer, home: Path
) -> None:
    user_code, result = await device_login(server, home)

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # messages go to stderr
    assert f"Then open {server.device_verification_uri} in a browser" in result.stderr
    assert f"{server.device_verification_uri}?user_code={user_code}" in result.stderr
    assert "Waiting for approval (the code expires in 10 min)" in result.stderr
    assert f"Logged in to {server.issuer} (profile 'default')" in result.stderr
    assert server.counters.grants == {DEVICE_GRANT: 1}
    [started] = server.requests_seen("device_authorization")
    assert started.form == {"client_id": PUBLIC, "scope": SCOPE}

    assert mode(home) == 0o700
    assert mode(home / "profiles.json") == 0o600
    assert profiles_document(home) == {"oauthflow_profiles": 1, "profiles": {"default": {
        "issuer": server.issuer, "client_id": PUBLIC, "auth_method": "none",
        "scope": SCOPE.split(), "resource": [], "token_endpoint": server.token_endpoint,
        "revocation_endpoint": server.revocation_endpoint, "store": "file",
        "insecure_http": False,
    }}}
    token_file = home / "tokens" / "default.json"
    assert mode(token_file) == 0o600
    token = stored_token(home)
    assert token["refresh_token"]
    assert token["scope"] == SCOPE
    for secret in (token["access_token"], token["refresh_token"]):
        assert secret not in result.stderr


async def test_denied_login_exits_3_and_stores_nothing(
    server: AuthorizationServer, home: Path
) -> None:
    _, result = await device_login(server, home, "--profile", "work", approve=False)

    assert result.returncode == 3
    assert result.stderr.splitlines()[-1] == (
        "oauthflow: the login was denied: run `oauthflow login --profile work` again")
    assert not exists(home / "profiles.json")
    assert server.counters.grants == {}


async def test_expired_device_code_exits_3(server: AuthorizationServer, home: Path) -> None:
    server.settings.device_code_lifetime = 0.5

    result = await invoke(["login", "--issuer", server.issuer, "--client-id", PUBLIC], home)

    assert result.exit_code == 3
    assert result.stderr.splitlines()[-1] == (
        "oauthflow: the login code expired before it was approved: run `oauthflow login` again")
    assert 1 <= server.counters.requests["token"] <= 2  # polled every 0.2 s for 0.5 s


async def test_confidential_client_secret_is_used_but_never_stored(
    server: AuthorizationServer, home: Path
) -> None:
    _, result = await device_login(server, home, client_id=SERVICE,
                                   env={"OAUTHFLOW_CLIENT_SECRET": SECRET})

    assert result.returncode == 0, result.stderr
    [started] = server.requests_seen("device_authorization")
    assert started.headers["Authorization"].startswith("Basic ")
    profile = profiles_document(home)["profiles"]["default"]
    assert profile["auth_method"] == "client_secret_basic"
    for path in files_under(home):
        assert SECRET not in path.read_text(), path
    assert SECRET not in result.stderr


async def test_login_again_reuses_the_profile_settings(
    server: AuthorizationServer, home: Path
) -> None:
    before = await logged_in_directly(server, home, profile="dev")

    async with CliProcess(["login", "--profile", "dev"], child_env(home)) as process:
        user_code = (await process.wait_for_line(r"one-time code: (\S+)")).group(1)
        await server.approve_device(user_code)
        again = await process.finish()

    assert again.returncode == 0, again.stderr
    [started] = server.requests_seen("device_authorization")
    assert started.form == {"client_id": PUBLIC, "scope": SCOPE}
    assert stored_token(home, "dev")["access_token"] != before.access_token
    assert list(profiles_document(home)["profiles"]) == ["dev"]


async def test_browser_login_through_the_loopback_receiver(
    server: AuthorizationServer, home: Path
) -> None:
    command = ["login", "--auth-code", "--issuer", server.issuer, "--client-id", PUBLIC,
               "--scope", SCOPE, "--profile", "browser"]
    async with CliProcess(command, child_env(home)) as process:
        url = (await process.wait_for_line(r"^(http://\S+/authorize\?\S+)$")).group(1)
        redirect = (await process.wait_for_line(
            r"come back to (http://127\.0\.0\.1:\d+/callback)")).group(1)
        callback = await server.authorize(url, user="alice")
        assert callback.startswith(redirect + "?")
        async with aiohttp.ClientSession() as browser, browser.get(callback) as page:
            assert page.status == 200
        result = await process.finish()

    assert result.returncode == 0, result.stderr
    assert server.counters.grants == {"authorization_code": 1}
    [exchange] = server.requests_seen("token")
    assert exchange.form["redirect_uri"] == redirect
    assert len(exchange.form["code_verifier"]) >= 43
    assert exchange.form["code_verifier"] not in result.stderr  # only the challenge was shown
    assert stored_token(home, "browser")["refresh_token"]


async def test_browser_login_denied_exits_3(server: AuthorizationServer, home: Path) -> None:
    command = ["login", "--auth-code", "--issuer", server.issuer, "--client-id", PUBLIC]
    async with CliProcess(command, child_env(home)) as process:
        url = (await process.wait_for_line(r"^(http://\S+/authorize\?\S+)$")).group(1)
        callback = await server.authorize(url, approve=False)
        async with aiohttp.ClientSession() as browser, browser.get(callback) as page:
            assert page.status == 200
        result = await process.finish()

    assert result.returncode == 3
    assert result.stderr.splitlines()[-1] == (
        "oauthflow: the login was denied: run `oauthflow login` again")
    assert server.counters.requests["token"] == 0


async def test_browser_login_that_never_comes_back_exits_3(
    server: AuthorizationServer, home: Path
) -> None:
    result = await invoke(["login", "--auth-code", "--issuer", server.issuer, "--client-id",
                           PUBLIC, "--timeout", "1"], home)

    assert result.exit_code == 3
    assert result.stderr.splitlines()[-1] == (
        "oauthflow: the browser did not come back within 1 s: run "
        "`oauthflow login --auth-code` again")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


async def approve_when_asked(server: AuthorizationServer) -> str:
    """The user approves the first device code the server issues (in-process logins)."""
    for _ in range(int(TIMEOUT / 0.01)):
        if server.core.store.devices_by_user_code:
            break
        await asyncio.sleep(0.01)
    [user_code] = server.core.store.devices_by_user_code
    await server.approve_device(user_code)
    return user_code


async def test_keyring_store_keeps_the_token_out_of_the_home_directory(
    server: AuthorizationServer, home: Path, memory_keyring: MemoryKeyring
) -> None:
    approval = asyncio.ensure_future(approve_when_asked(server))
    result = await invoke(["login", "--issuer", server.issuer, "--client-id", PUBLIC,
                           "--scope", SCOPE, "--store", "keyring", "--profile", "laptop"], home)
    user_code = await asyncio.wait_for(approval, TIMEOUT)

    assert result.exit_code == 0, result.stderr
    assert user_code in result.stderr
    assert profiles_document(home)["profiles"]["laptop"]["store"] == "keyring"
    assert not exists(home / "tokens" / "laptop.json")
    token, _ = decode(memory_keyring.entries[(KEYRING_SERVICE, "laptop")], "test")
    assert token.refresh_token

    printed = await invoke(["token", "--profile", "laptop"], home)
    assert printed.exit_code == 0, printed.stderr
    assert printed.stdout == token.access_token + "\n"

    bye = await invoke(["logout", "--profile", "laptop"], home)
    assert bye.exit_code == 0, bye.stderr
    assert memory_keyring.entries == {}
    assert profiles_document(home)["profiles"] == {}
