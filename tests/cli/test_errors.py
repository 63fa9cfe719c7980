"""What a person sees when something is wrong: a one-line message that says what to do, and
the documented exit code (against real servers on 127.0.0.1: none listening, another
issuer's discovery document, a broken token endpoint)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from oauthflow.cli.profiles import Profile, save_profile
from oauthflow.testing import AuthorizationServer

from .conftest import PUBLIC, exists, logged_in_directly
from .support import child_env, invoke, run_cli

pytestmark = pytest.mark.asyncio


def free_port() -> int:
    """A port nothing listens on (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_nothing_listening_at_the_issuer_exits_5(home: Path) -> None:
    issuer = f"http://127.0.0.1:{free_port()}"

    result = await run_cli(["login", "--issuer", issuer, "--client-id", PUBLIC],
                           child_env(home))

    assert result.returncode == 5
    assert result.stderr == (f"oauthflow: cannot reach {issuer}/.well-known/openid-configuration"
                             ": check your network or the --issuer\n")
    assert not exists(home)


async def test_a_discovery_document_for_another_issuer_exits_6(
    server: AuthorizationServer, home: Path
) -> None:
    # The same server under another name: its document says "http://127.0.0.1:<port>".
    issuer = server.issuer.replace("127.0.0.1", "localhost")

    result = await invoke(["login", "--issuer", issuer, "--client-id", PUBLIC], home)

    assert result.exit_code == 6
    assert result.stderr == (
        f"oauthflow: the discovery document at {issuer}/.well-known/openid-configuration is for "
        "another issuer: check --issuer (it must be exactly the provider's issuer URL)\n")
    assert server.counters.requests["device_authorization"] == 0


async def test_a_stored_profile_whose_issuer_moved_names_it(
    server: AuthorizationServer, home: Path
) -> None:
    issuer = server.issuer.replace("127.0.0.1", "localhost")
    save_profile(home, Profile(name="old", issuer=issuer, client_id=PUBLIC,
                               token_endpoint=f"{issuer}/token"))

    result = await invoke(["login", "--profile", "old"], home)

    assert result.exit_code == 6
    assert result.stderr.startswith(
        f"oauthflow: the discovery document at {issuer}/.well-known/openid-configuration is "
        "for another issuer")


async def test_re_login_of_a_confidential_profile_needs_its_secret(
    server: AuthorizationServer, home: Path
) -> None:
    save_profile(home, Profile(name="svc", issuer=server.issuer, client_id="svc",
                               auth_method="client_secret_post",
                               token_endpoint=server.token_endpoint))

    result = await invoke(["login", "--profile", "svc"], home)

    assert result.exit_code == 2
    assert result.stderr == ("oauthflow: this needs the client secret: set "
                             "OAUTHFLOW_CLIENT_SECRET (or pass --client-secret)\n")
    assert server.counters.requests["discovery"] == 0


async def test_an_impostor_discovery_document_exits_6(
    aiohttp_server: AiohttpServer, home: Path
) -> None:
    async def document(_request: web.Request) -> web.Response:
        return web.json_response({"issuer": "https://login.example.com",
                                  "token_endpoint": "https://login.example.com/token",
                                  "jwks_uri": "https://login.example.com/jwks"})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", document)
    fake = await aiohttp_server(app, host="127.0.0.1")
    issuer = str(fake.make_url("")).rstrip("/")

    result = await invoke(["login", "--issuer", issuer, "--client-id", PUBLIC], home)

    assert result.exit_code == 6
    assert "is for another issuer: check --issuer" in result.stderr


async def test_no_discovery_document_exits_6(server: AuthorizationServer, home: Path) -> None:
    issuer = f"{server.issuer}/tenant"

    result = await invoke(["token", "--client-credentials", "--issuer", issuer,
                           "--client-id", "x"], home, OAUTHFLOW_CLIENT_SECRET="s")

    assert result.exit_code == 6
    assert result.stderr == (f"oauthflow: no discovery document was found for {issuer} "
                             "(HTTP 404): check --issuer\n")
    assert server.counters.requests["token"] == 0


async def test_offline_when_the_token_must_be_refreshed_exits_5(
    server: AuthorizationServer, home: Path
) -> None:
    server.settings.access_token_lifetime = 0.3
    token = await logged_in_directly(server, home)
    await server.stop()
    assert token.expires_at is not None
    await asyncio.sleep(max(0.0, token.expires_at - time.time()) + 0.05)

    result = await invoke(["token"], home)

    assert result.exit_code == 5
    assert result.stderr == (f"oauthflow: cannot reach {server.token_endpoint}: check your "
                             "network\n")


async def test_a_token_endpoint_answering_html_exits_6(
    server: AuthorizationServer, home: Path
) -> None:
    server.fail_next("token", status=502, body=b"<html>Bad Gateway</html>",
                     content_type="text/html")
    server.fail_next("token", status=200, body=b"<html>Welcome</html>", content_type="text/html")

    result = await invoke(["token", "--client-credentials", "--token-endpoint",
                           server.token_endpoint, "--client-id", "svc"], home,
                          OAUTHFLOW_CLIENT_SECRET="s")

    assert result.exit_code == 6
    assert result.stderr.startswith("oauthflow: the provider's answer is unusable: "
                                    "response_not_json: ")
    assert "<html>Welcome</html>" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["login", "--client-id", "x"], "no issuer: pass --issuer or set OAUTHFLOW_ISSUER"),
    (["login", "--issuer", "https://login.example.com"],
     "no client id: pass --client-id or set OAUTHFLOW_CLIENT_ID"),
    (["login", "--issuer", "http://login.example.com", "--client-id", "x"],
     "issuer must use https: http is allowed only to a loopback host (127.0.0.1, ::1, "
     "localhost), not to 'login.example.com'; pass --insecure-http to allow plain http "
     "(test rigs only)"),
    (["login", "--profile", "../escape", "--issuer", "https://a.example", "--client-id", "x"],
     "invalid profile name '../escape': use up to 64 letters, digits, '.', '_' or '-'"),
    (["token", "--token-endpoint", "https://a.example/token"],
     "--token-endpoint goes with --client-credentials"),
    (["token", "--client-credentials", "--client-id", "x"],
     "--client-credentials needs --issuer (or OAUTHFLOW_ISSUER) or --token-endpoint"),
])
async def test_usage_errors_exit_2(home: Path, args: list[str], message: str) -> None:
    result = await invoke(args, home)

    assert result.exit_code == 2
    assert result.stderr == f"oauthflow: {message}\n"
    assert not exists(home)


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)


async def test_a_damaged_profiles_file_says_how_to_recover(home: Path) -> None:
    write_private(home / "profiles.json", "not json")

    result = await invoke(["token"], home)

    assert result.exit_code == 1
    assert result.stderr == (f"oauthflow: {home / 'profiles.json'} is not an oauthflow "
                             "profiles file; move it away to start over\n")
