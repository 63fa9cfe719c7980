"""``oauthflow token``: the stored token, refreshed after expiry (once across processes), and
client credentials from flags and environment, against oauthflow.testing (integration)."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import pytest

from oauthflow.testing import AuthorizationServer
from oauthflow.token import Token

from .conftest import PUBLIC, SECRET, SERVICE, exists, logged_in_directly, stored_token
from .support import child_env, invoke, run_cli

pytestmark = pytest.mark.asyncio


async def logged_in(server: AuthorizationServer, home: Path, *, profile: str = "default",
                    lifetime: float | None = None, client_id: str = PUBLIC,
                    secret: str | None = None) -> Token:
    """A stored login (made without the CLI: ``oauthflow login`` has its own tests) whose
    token lives ``lifetime`` seconds; tokens issued afterwards live an hour."""
    if lifetime is not None:
        server.settings.access_token_lifetime = lifetime
    token = await logged_in_directly(server, home, profile=profile, client_id=client_id,
                                     secret=secret)
    server.settings.access_token_lifetime = 3600.0
    return token


async def until_expired(token: Token) -> None:
    assert token.expires_at is not None
    await asyncio.sleep(max(0.0, token.expires_at - time.time()) + 0.05)


async def test_prints_the_stored_token_and_nothing_else(
    server: AuthorizationServer, home: Path
) -> None:
    token = await logged_in(server, home)

    result = await run_cli(["token"], child_env(home))

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{token.access_token}\n"
    assert result.stderr == ""
    assert server.counters.requests["token"] == 0  # fresh: no request at all


async def test_an_expired_token_is_refreshed_and_the_rotation_saved(
    server: AuthorizationServer, home: Path
) -> None:
    first = await logged_in(server, home, lifetime=0.5)
    await until_expired(first)

    refreshed = await run_cli(["token"], child_env(home))

    assert refreshed.returncode == 0, refreshed.stderr
    new_access = refreshed.stdout.strip()
    assert new_access != first.access_token
    assert server.counters.grants == {"refresh_token": 1}
    [request] = server.requests_seen("token")
    assert request.form == {"grant_type": "refresh_token", "client_id": PUBLIC,
                            "refresh_token": first.refresh_token}
    saved = stored_token(home)
    assert saved["access_token"] == new_access
    assert saved["refresh_token"] not in (None, first.refresh_token)  # rotated, persisted

    again = await run_cli(["token"], child_env(home))
    assert again.stdout == refreshed.stdout
    assert server.counters.requests["token"] == 1


async def test_processes_sharing_a_profile_refresh_once(
    server: AuthorizationServer, home: Path
) -> None:
    first = await logged_in(server, home, lifetime=0.5)
    await until_expired(first)

    results = await asyncio.gather(*(run_cli(["token"], child_env(home)) for _ in range(3)))

    assert [result.returncode for result in results] == [0, 0, 0], results
    assert len({result.stdout for result in results}) == 1
    assert server.counters.grants == {"refresh_token": 1}  # reuse detection would fail a 2nd


async def test_a_refused_refresh_token_exits_4(server: AuthorizationServer, home: Path) -> None:
    first = await logged_in(server, home, profile="ci", lifetime=0.5)
    server.revoke_all()
    await until_expired(first)

    result = await invoke(["token", "--profile", "ci"], home)

    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "oauthflow: the session expired (the provider refused the refresh token): "
        "run `oauthflow login --profile ci`")


async def test_no_login_exits_4(home: Path) -> None:
    result = await invoke(["token", "--profile", "nobody"], home)

    assert result.exit_code == 4
    assert result.stderr == ("oauthflow: not logged in (no profile 'nobody'): run "
                             "`oauthflow login --profile nobody --issuer ...`\n")


async def test_a_confidential_profile_needs_its_secret_every_time(
    server: AuthorizationServer, home: Path
) -> None:
    token = await logged_in(server, home, client_id=SERVICE, secret=SECRET)

    missing = await invoke(["token"], home)
    assert missing.exit_code == 2
    assert "uses a confidential client (cli-service): set OAUTHFLOW_CLIENT_SECRET" in (
        missing.stderr)

    given = await invoke(["token"], home, OAUTHFLOW_CLIENT_SECRET=SECRET)
    assert given.exit_code == 0, given.stderr
    assert given.stdout == f"{token.access_token}\n"


async def test_flags_that_contradict_the_profile_are_a_usage_error(
    server: AuthorizationServer, home: Path
) -> None:
    await logged_in(server, home)

    result = await invoke(["token", "--client-id", "someone-else"], home)

    assert result.exit_code == 2
    assert "--client-id / OAUTHFLOW_CLIENT_ID (someone-else) differs from what profile " \
           "'default' logged in with (cli-public)" in result.stderr


@pytest.mark.parametrize("where", ["--issuer", "--token-endpoint"])
async def test_client_credentials_from_flags_and_environment(
    server: AuthorizationServer, home: Path, where: str
) -> None:
    endpoint = server.issuer if where == "--issuer" else server.token_endpoint

    result = await invoke(["token", "--client-credentials", where, endpoint, "--scope", "read"],
                          home, OAUTHFLOW_CLIENT_ID=SERVICE, OAUTHFLOW_CLIENT_SECRET=SECRET)

    assert result.exit_code == 0, result.stderr
    assert server.counters.grants == {"client_credentials": 1}
    [request] = server.requests_seen("token")
    assert request.form == {"grant_type": "client_credentials", "scope": "read"}
    basic = base64.b64encode(f"{SERVICE}:{SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {basic}"
    record = server.core.store.tokens_by_access[result.stdout.strip()]
    assert (record.client_id, record.scope) == (SERVICE, "read")
    assert not exists(home)  # nothing stored


async def test_client_credentials_without_a_secret_is_a_usage_error(
    server: AuthorizationServer, home: Path
) -> None:
    result = await invoke(["token", "--client-credentials", "--issuer", server.issuer,
                           "--client-id", SERVICE], home)

    assert result.exit_code == 2
    assert result.stderr == ("oauthflow: this needs the client secret: set "
                             "OAUTHFLOW_CLIENT_SECRET (or pass --client-secret)\n")
    assert server.counters.requests["token"] == 0


async def test_a_wrong_client_secret_exits_1_without_echoing_it(
    server: AuthorizationServer, home: Path
) -> None:
    result = await invoke(["token", "--client-credentials", "--token-endpoint",
                           server.token_endpoint, "--client-id", SERVICE], home,
                          OAUTHFLOW_CLIENT_SECRET="wrong-secret-value")

    assert result.exit_code == 1
    assert result.stderr.startswith("oauthflow: the provider refused the client (invalid_client")
    assert result.stderr.endswith(": check --client-id and --client-secret\n")
    assert "wrong-secret-value" not in result.output
