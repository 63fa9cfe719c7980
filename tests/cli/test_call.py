"""``oauthflow call``: requests to oauthflow.testing's protected API with the profile's token
(or client credentials), what the API saw, exit codes for non-2xx (integration)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.flows.revocation import revoke_token
from oauthflow.testing import AuthorizationServer
from oauthflow.transport import Transport

from .conftest import PUBLIC, SECRET, SERVICE, logged_in_directly, stored_token
from .support import invoke

pytestmark = pytest.mark.asyncio


async def test_get_hits_the_protected_api_with_the_stored_token(
    server: AuthorizationServer, home: Path
) -> None:
    token = await logged_in_directly(server, home)

    result = await invoke(["call", "GET", f"{server.api_url}items/7"], home)

    assert result.exit_code == 0, result.stderr
    assert result.stderr == "HTTP/1.1 200 OK\n"
    answer = json.loads(result.stdout)
    assert (answer["sub"], answer["client_id"], answer["method"], answer["path"]) == (
        "alice", PUBLIC, "GET", "/api/items/7")
    [seen] = server.requests_seen("api")
    assert seen.headers["Authorization"] == f"Bearer {token.access_token}"
    assert server.counters.requests["token"] == 0


async def test_post_json_and_headers(server: AuthorizationServer, home: Path) -> None:
    await logged_in_directly(server, home)
    body = '{"name": "widget", "count": 3}'

    result = await invoke(["call", "post", f"{server.api_url}widgets", "--json", body,
                           "-H", "X-Request-Id: abc-123"], home)

    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["method"] == "POST"
    assert answer["body_sha256"] == hashlib.sha256(body.encode()).hexdigest()
    [seen] = server.requests_seen("api")
    assert seen.body == body.encode()
    headers = {name.lower(): value for name, value in seen.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"] == "abc-123"


async def test_form_data_from_a_file(server: AuthorizationServer, home: Path,
                                     tmp_path: Path) -> None:
    await logged_in_directly(server, home)
    payload = tmp_path / "form.txt"
    payload.write_bytes(b"a=1&b=two")

    result = await invoke(["call", "PUT", f"{server.api_url}form", "-d", f"@{payload}"], home)

    assert result.exit_code == 0, result.stderr
    [seen] = server.requests_seen("api")
    assert (seen.method, seen.body) == ("PUT", b"a=1&b=two")
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_include_writes_the_status_and_headers_to_stdout(
    server: AuthorizationServer, home: Path
) -> None:
    await logged_in_directly(server, home)

    result = await invoke(["call", "GET", f"{server.api_url}x", "-i"], home)

    assert result.exit_code == 0, result.stderr
    head, _, body = result.stdout_bytes.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "Content-Type: application/json; charset=utf-8" in lines
    assert json.loads(body)["path"] == "/api/x"
    assert result.stderr == ""


async def test_a_non_2xx_answer_exits_1_with_the_body(
    server: AuthorizationServer, home: Path
) -> None:
    await logged_in_directly(server, home)

    result = await invoke(["call", "GET", f"{server.issuer}/no-such-page"], home)

    assert result.exit_code == 1
    assert result.stderr == "HTTP/1.1 404 Not Found\n"
    assert "404" in result.stdout


async def test_a_revoked_access_token_is_renewed_and_the_request_replayed(
    server: AuthorizationServer, home: Path
) -> None:
    token = await logged_in_directly(server, home)
    metadata = ServerMetadata(token_endpoint=server.token_endpoint,
                              revocation_endpoint=server.revocation_endpoint)
    async with Transport() as transport:
        await revoke_token(transport, metadata, ClientConfig(client_id=PUBLIC), token,
                           token_type_hint="access_token")
    server.reset_counters()

    result = await invoke(["call", "POST", f"{server.api_url}orders", "--json", "[1, 2]"], home)

    assert result.exit_code == 0, result.stderr
    first, second = server.requests_seen("api")
    assert first.headers["Authorization"] == f"Bearer {token.access_token}"
    renewed = stored_token(home)["access_token"]
    assert second.headers["Authorization"] == f"Bearer {renewed}"
    assert second.body == b"[1, 2]"
    assert server.counters.grants == {"refresh_token": 1}


async def test_a_revoked_session_exits_4(server: AuthorizationServer, home: Path) -> None:
    await logged_in_directly(server, home, profile="old")
    server.revoke_all()

    result = await invoke(["call", "GET", server.api_url, "-p", "old"], home)

    assert result.exit_code == 4
    assert result.stderr.splitlines()[-1] == (
        "oauthflow: the session expired (the provider refused the refresh token): "
        "run `oauthflow login --profile old`")
    assert server.counters.requests["api"] == 1


async def test_client_credentials_call(server: AuthorizationServer, home: Path) -> None:
    result = await invoke(["call", "--client-credentials", "--issuer", server.issuer,
                           "--client-id", SERVICE, "GET", f"{server.api_url}jobs"], home,
                          OAUTHFLOW_CLIENT_SECRET=SECRET)

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["sub"] == SERVICE


@pytest.mark.parametrize(("args", "message"), [
    (["call", "GET", "http://api.example.com/"],
     "oauthflow: the URL must use https: http is allowed only to a loopback host "
     "(127.0.0.1, ::1, localhost), not to 'api.example.com'; pass --insecure-http to send "
     "the token over plain http (test rigs only)\n"),
    (["call", "GET", "https://api.example.com/", "-H", "Authorization: Basic eA=="],
     "oauthflow: -H Authorization: oauthflow attaches the token itself\n"),
    (["call", "GET", "https://api.example.com/", "-H", "no colon"],
     "oauthflow: -H expects \"Name: value\", got 'no colon'\n"),
    (["call", "GET", "https://api.example.com/", "-d", "x", "--json", "{}"],
     "oauthflow: give either -d/--data or --json, not both\n"),
])
async def test_usage_errors_exit_2_before_anything_is_sent(
    home: Path, args: list[str], message: str
) -> None:
    result = await invoke(args, home)

    assert result.exit_code == 2
    assert result.stderr == message
