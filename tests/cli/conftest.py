"""Fixtures of the command-line tests: a temporary OAUTHFLOW_HOME and a prepared test server."""

from __future__ import annotations

import json
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from oauthflow.cli.profiles import Profile, save_profile, token_store
from oauthflow.config import ClientConfig, ServerMetadata
from oauthflow.flows.device import device_login as library_device_login
from oauthflow.protocol.device import DeviceAuthorization
from oauthflow.testing import AuthorizationServer
from oauthflow.token import Token
from oauthflow.transport import Transport

from .support import CliProcess, Finished, child_env

__all__ = [
    "PUBLIC",
    "SCOPE",
    "SECRET",
    "SERVICE",
    "device_login",
    "exists",
    "files_under",
    "home",
    "logged_in_directly",
    "mode",
    "profiles_document",
    "server",
    "stored_token",
]

PUBLIC = "cli-public"
SERVICE = "cli-service"
SECRET = "service-secret-value-0123456789"
SCOPE = "openid offline_access read"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """OAUTHFLOW_HOME for the test (created by the command line itself)."""
    return tmp_path / "oauthflow-home"


@pytest_asyncio.fixture
async def server(oauth_server: AuthorizationServer) -> AuthorizationServer:
    """The local server with fast device polling, a public and a confidential client."""
    oauth_server.settings.device_poll_interval = 0.2
    oauth_server.register_client(PUBLIC)
    oauth_server.register_client(SERVICE, SECRET)
    return oauth_server


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def exists(path: Path) -> bool:
    """``path.exists()`` (a plain function: the async tests call no blocking method)."""
    return path.exists()


def files_under(path: Path) -> list[Path]:
    return [found for found in path.rglob("*") if found.is_file()]


def profiles_document(home: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((home / "profiles.json").read_text())
    return document


def stored_token(home: Path, profile: str = "default") -> dict[str, Any]:
    """The token saved in the profile's token file (the store's envelope removed)."""
    document = json.loads((home / "tokens" / f"{profile}.json").read_text())
    token: dict[str, Any] = document["token"]
    return token


async def device_login(server: AuthorizationServer, home: Path, *args: str,
                       approve: bool = True, client_id: str = PUBLIC,
                       env: Mapping[str, str] | None = None) -> tuple[str, Finished]:
    """``oauthflow login`` in a child process; the user code read from its output is approved
    (or denied) on the server. Returns the user code and the finished process."""
    command = ["login", "--issuer", server.issuer, "--client-id", client_id, "--scope", SCOPE,
               *args]
    async with CliProcess(command, child_env(home, **(env or {}))) as process:
        user_code = (await process.wait_for_line(r"one-time code: (\S+)")).group(1)
        if approve:
            await server.approve_device(user_code)
        else:
            await server.deny_device(user_code)
        return user_code, await process.finish()


async def logged_in_directly(server: AuthorizationServer, home: Path, *,
                             profile: str = "default", client_id: str = PUBLIC,
                             secret: str | None = None) -> Token:
    """A profile as ``oauthflow login`` leaves it, made without the command line (faster):
    a device login through the library, approved at once, saved like the CLI saves it.
    The server's counters are reset afterwards."""
    metadata = ServerMetadata(issuer=server.issuer, token_endpoint=server.token_endpoint,
                              device_authorization_endpoint=server.device_authorization_endpoint)
    client = ClientConfig(client_id=client_id, client_secret=secret)

    async def approve(authorization: DeviceAuthorization) -> None:
        await server.approve_device(authorization.user_code)

    async with Transport() as transport:
        token = await library_device_login(transport, metadata, client, on_prompt=approve,
                                           scope=SCOPE.split())
    saved = Profile(name=profile, issuer=server.issuer, client_id=client_id,
                    auth_method=client.method, scope=tuple(SCOPE.split()),
                    token_endpoint=server.token_endpoint,
                    revocation_endpoint=server.revocation_endpoint)
    await token_store(home, saved).save(token)
    save_profile(home, saved)
    server.reset_counters()
    return token
