"""The ``oauthflow`` command line against panva's oidc-provider (OpenID Certified), on 127.0.0.1.

A device login in a child process approved on the provider's own pages, then ``call``,
``inspect`` and ``logout``; a browser login (auth code + PKCE through the loopback receiver)
whose token is refreshed by ``token`` once it expired (a provider with 2-second access
tokens); a denied login and a wrong issuer. The user is ``headless.py``'s browser.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ..cli.support import CliProcess, child_env, invoke, run_cli
from .headless import authorize, enter_device_code
from .provider_process import (
    DEVICE_CODE_GRANT,
    OidcProvider,
    ProviderStartError,
    find_node_tools,
    running_provider,
)

__all__: list[str] = []

pytestmark = [pytest.mark.interop, pytest.mark.asyncio]

SHORT_TTL = 2  # seconds an access token of the short-lived provider lives
PUBLIC = "oauthflow-public"


@pytest.fixture(scope="module")
def short_ttl_provider(
    oidc_provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OidcProvider]:
    """A second provider whose access tokens live 2 s (depends on ``oidc_provider`` for its
    skip/fail rules and its ``npm ci``)."""
    tools = find_node_tools()
    assert tools is not None
    try:
        with running_provider(tools, tmp_path_factory.mktemp("oidc-provider-cli"),
                              access_token_ttl=SHORT_TTL) as provider:
            yield provider
    except ProviderStartError as exc:
        pytest.fail(f"oidc-provider did not start: {exc}")


async def counters(provider: OidcProvider, *, reset: bool = False) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        if reset:
            async with http.post(provider.reset_counters_url) as response:
                assert response.status == 200
        async with http.get(provider.counters_url) as response:
            body: dict[str, Any] = await response.json()
            return body


def stored(home: Path, profile: str = "default") -> dict[str, Any]:
    token: dict[str, Any] = json.loads(
        (home / "tokens" / f"{profile}.json").read_text())["token"]
    return token


async def test_device_login_then_call_inspect_and_logout(
    oidc_provider: OidcProvider, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    await counters(oidc_provider, reset=True)
    command = ["login", "--issuer", oidc_provider.issuer, "--client-id", PUBLIC,
               "--scope", "openid"]
    async with CliProcess(command, child_env(home)) as login:
        user_code = (await login.wait_for_line(r"one-time code: (\S+)")).group(1)
        page = (await login.wait_for_line(r"^Then open (\S+) in a browser")).group(1)
        assert page == f"{oidc_provider.issuer}/device"
        assert await enter_device_code(page, user_code) == "Sign-in Success"
        result = await login.finish()

    assert result.returncode == 0, result.stderr
    assert (await counters(oidc_provider))["grants"] == {DEVICE_CODE_GRANT: 1}
    token = stored(home)
    assert token["refresh_token"]
    assert token["id_token"]

    called = await invoke(["call", "POST", oidc_provider.api_url, "--json", '{"n": 1}'], home)
    assert called.exit_code == 0, called.stderr
    answer = json.loads(called.stdout)
    assert (answer["client_id"], answer["sub"], answer["kind"]) == (
        PUBLIC, "alice", "AccessToken")

    shown = await invoke(["inspect"], home)
    assert shown.exit_code == 0, shown.stderr
    signature = token["id_token"].rsplit(".", 1)[1]
    for secret in (token["access_token"], token["refresh_token"], token["id_token"], signature):
        assert secret not in shown.stdout
    assert "Access token: opaque" in shown.stdout
    assert "ID token (decoded, NOT verified" in shown.stdout
    assert re.search(rf"\n    iss +{re.escape(oidc_provider.issuer)}\n", shown.stdout)
    assert re.search(r"\n    aud +oauthflow-public\n", shown.stdout)
    revealed = await invoke(["inspect", "--show-secrets"], home)
    assert token["refresh_token"] in revealed.stdout
    assert signature in revealed.stdout

    bye = await invoke(["logout"], home)
    assert bye.exit_code == 0, bye.stderr
    assert "the refresh token was revoked at the provider" in bye.stderr
    assert (await counters(oidc_provider))["routes"]["revocation"] == 1
    after = await invoke(["call", "GET", oidc_provider.api_url], home)
    assert after.exit_code == 4


async def browser_login(provider: OidcProvider, home: Path, *,
                        approve: bool = True) -> tuple[int, str]:
    """``oauthflow login --auth-code`` in a child process; the headless user signs in (or
    refuses consent) and the browser follows the redirect to the loopback receiver."""
    command = ["login", "--auth-code", "--issuer", provider.issuer, "--client-id", PUBLIC,
               "--scope", "openid"]
    async with CliProcess(command, child_env(home)) as login:
        url = (await login.wait_for_line(r"^(http://\S+/auth\?\S+)$")).group(1)
        redirect = (await login.wait_for_line(r"come back to (\S+) \(")).group(1)
        callback = await authorize(url, redirect, approve=approve)
        async with aiohttp.ClientSession() as browser, browser.get(callback) as page:
            assert page.status == 200
        result = await login.finish()
    return result.returncode, result.stderr


async def test_token_refreshes_after_expiry(short_ttl_provider: OidcProvider,
                                            tmp_path: Path) -> None:
    home = tmp_path / "home"
    status, stderr = await browser_login(short_ttl_provider, home)
    assert status == 0, stderr
    first = stored(home)
    await counters(short_ttl_provider, reset=True)
    await asyncio.sleep(max(0.0, first["expires_at"] - time.time()) + 0.05)

    result = await run_cli(["token"], child_env(home))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() not in ("", first["access_token"])
    seen = await counters(short_ttl_provider)
    assert seen["grants"] == {"refresh_token": 1}
    assert seen.get("grant_errors", {}) == {}
    assert stored(home)["refresh_token"] != first["refresh_token"]  # rotated and saved


async def test_denied_login_exits_3(oidc_provider: OidcProvider, tmp_path: Path) -> None:
    status, stderr = await browser_login(oidc_provider, tmp_path / "home", approve=False)

    assert status == 3
    assert stderr.splitlines()[-1] == "oauthflow: the login was denied: run `oauthflow login` again"


async def test_wrong_issuer_exits_6(oidc_provider: OidcProvider, tmp_path: Path) -> None:
    issuer = oidc_provider.issuer.replace("127.0.0.1", "localhost")

    result = await invoke(["login", "--issuer", issuer, "--client-id", PUBLIC],
                          tmp_path / "home")

    assert result.exit_code == 6
    assert result.stderr == (
        f"oauthflow: the discovery document at {issuer}/.well-known/openid-configuration is for "
        "another issuer: check --issuer (it must be exactly the provider's issuer URL)\n")
