"""Install, start and stop panva's oidc-provider (``tests/interop/provider/``) on 127.0.0.1.

Synchronous on purpose: the session fixture built on it needs no event loop. The provider runs
as ``node server.mjs``; it prints ``READY {json}`` once it accepts connections, and exits when its
stdin closes, so a test run that dies without cleanup does not leave it running.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from joserfc.jwk import ECKey

__all__ = [
    "DEVICE_CODE_GRANT",
    "PROVIDER_DIR",
    "REDIRECT_URI",
    "NodeTools",
    "OidcProvider",
    "ProviderStartError",
    "RegisteredClient",
    "ensure_installed",
    "find_node_tools",
    "make_clients",
    "running_provider",
]

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# Registered for "native" clients: for http loopback redirect URIs oidc-provider ignores the port
# (RFC 8252 section 7.3: "The authorization server MUST allow any port to be specified at the
# time of the request for loopback IP redirect URIs"), so a test may listen on any free port.
REDIRECT_URI = "http://127.0.0.1/callback"

_READY_PREFIX = "READY "
_NPM_CI_TIMEOUT = 300.0
_STOP_TIMEOUT = 5.0


class ProviderStartError(RuntimeError):
    """The provider could not be installed or did not become ready; the message has the log tail."""


@dataclass(frozen=True)
class NodeTools:
    """Paths of the ``node`` and ``npm`` executables."""

    node: str
    npm: str


@dataclass(frozen=True)
class RegisteredClient:
    """A client registered statically in the provider. Secrets and keys stay out of ``repr``."""

    name: str
    client_id: str
    auth_method: str
    grant_types: tuple[str, ...]
    redirect_uri: str = REDIRECT_URI
    client_secret: str | None = field(default=None, repr=False)
    private_jwk: Mapping[str, Any] | None = field(default=None, repr=False)
    id_token_alg: str | None = None  # id_token_signed_response_alg (default RS256)

    def metadata(self) -> dict[str, Any]:
        """The oidc-provider client metadata (RFC 7591 names) for this client."""
        meta: dict[str, Any] = {
            "client_id": self.client_id,
            "application_type": "native",
            "token_endpoint_auth_method": self.auth_method,
            "grant_types": list(self.grant_types),
            "redirect_uris": [self.redirect_uri],
            "response_types": ["code"] if "authorization_code" in self.grant_types else [],
        }
        if self.client_secret is not None:
            meta["client_secret"] = self.client_secret
        if self.id_token_alg is not None:
            meta["id_token_signed_response_alg"] = self.id_token_alg
        if self.private_jwk is not None:
            public = {k: v for k, v in self.private_jwk.items() if k != "d"}
            meta["jwks"] = {"keys": [public]}
            meta["token_endpoint_auth_signing_alg"] = self.private_jwk["alg"]
        return meta


@dataclass(frozen=True)
class OidcProvider:
    """A running oidc-provider: its issuer, discovery document, clients and test endpoints."""

    issuer: str
    metadata: Mapping[str, Any]
    clients: Mapping[str, RegisteredClient]
    api_url: str
    api_resource: str
    jwt_api_resource: str
    access_token_ttl: int
    log_path: Path

    def endpoint(self, name: str) -> str:
        """A discovery endpoint, e.g. ``endpoint("token_endpoint")``; KeyError if not advertised."""
        value = self.metadata[name]
        assert isinstance(value, str)
        return value

    @property
    def token_endpoint(self) -> str:
        return self.endpoint("token_endpoint")

    @property
    def authorization_endpoint(self) -> str:
        return self.endpoint("authorization_endpoint")

    @property
    def device_authorization_endpoint(self) -> str:
        return self.endpoint("device_authorization_endpoint")

    @property
    def pushed_authorization_request_endpoint(self) -> str:
        return self.endpoint("pushed_authorization_request_endpoint")

    @property
    def introspection_endpoint(self) -> str:
        return self.endpoint("introspection_endpoint")

    @property
    def revocation_endpoint(self) -> str:
        return self.endpoint("revocation_endpoint")

    @property
    def userinfo_endpoint(self) -> str:
        return self.endpoint("userinfo_endpoint")

    @property
    def jwks_uri(self) -> str:
        return self.endpoint("jwks_uri")

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def revoke_all_url(self) -> str:
        """POST: deletes every access, client-credentials and refresh token (test control)."""
        return f"{self.issuer}/test/revoke-all"

    @property
    def counters_url(self) -> str:
        """GET: ``{"routes": {...}, "grants": {...}, "grant_errors": {...}, "api": {...}}``."""
        return f"{self.issuer}/test/counters"

    @property
    def reset_counters_url(self) -> str:
        """POST: zeroes the counters."""
        return f"{self.issuer}/test/counters/reset"


def find_node_tools() -> NodeTools | None:
    """``node`` and ``npm`` from PATH, or None if either is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None
    return NodeTools(node=node, npm=npm)


def make_clients() -> dict[str, RegisteredClient]:
    """One client per token endpoint authentication method, with fresh secrets and keys."""
    code_grants = ("authorization_code", "refresh_token")
    key = ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}, auto_kid=True)
    jwk = dict(key.as_dict(private=True))
    clients = [
        RegisteredClient(
            name="basic",
            client_id="oauthflow-basic",
            auth_method="client_secret_basic",
            grant_types=("client_credentials", *code_grants, DEVICE_CODE_GRANT),
            client_secret=secrets.token_urlsafe(32),
        ),
        RegisteredClient(
            name="post",
            client_id="oauthflow-post",
            auth_method="client_secret_post",
            grant_types=("client_credentials", *code_grants, DEVICE_CODE_GRANT),
            client_secret=secrets.token_urlsafe(32),
        ),
        RegisteredClient(
            name="es256",
            client_id="oauthflow-es256",
            auth_method="client_secret_basic",
            grant_types=code_grants,
            client_secret=secrets.token_urlsafe(32),
            id_token_alg="ES256",
        ),
        RegisteredClient(
            name="public",
            client_id="oauthflow-public",
            auth_method="none",
            grant_types=(*code_grants, DEVICE_CODE_GRANT),
        ),
        RegisteredClient(
            name="private_key_jwt",
            client_id="oauthflow-private-key-jwt",
            auth_method="private_key_jwt",
            grant_types=("client_credentials", *code_grants),
            private_jwk=jwk,
        ),
    ]
    return {client.name: client for client in clients}


def _installed_version() -> str | None:
    package = PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json"
    try:
        version = json.loads(package.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None
    return str(version)


def _pinned_version() -> str:
    package = json.loads((PROVIDER_DIR / "package.json").read_text(encoding="utf-8"))
    return str(package["dependencies"]["oidc-provider"])


def ensure_installed(tools: NodeTools) -> None:
    """Runs ``npm ci`` (lock file, npm registry only) unless the pinned version is installed."""
    if _installed_version() == _pinned_version():
        return
    command = [tools.npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            command,
            cwd=PROVIDER_DIR,
            capture_output=True,
            text=True,
            timeout=_NPM_CI_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ProviderStartError(f"npm ci timed out after {exc.timeout:.0f}s") from None
    if result.returncode != 0:
        raise ProviderStartError(f"npm ci failed ({result.returncode}):\n{result.stderr[-2000:]}")


def _log_tail(log_path: Path, limit: int = 4000) -> str:
    try:
        return log_path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return "<no log>"


def _wait_ready(proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> dict[str, Any]:
    """Polls the log for the READY line; raises if the process exits or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in _log_tail(log_path, limit=1_000_000).splitlines():
            if line.startswith(_READY_PREFIX):
                ready: dict[str, Any] = json.loads(line[len(_READY_PREFIX) :])
                return ready
        if proc.poll() is not None:
            raise ProviderStartError(
                f"oidc-provider exited with {proc.returncode}:\n{_log_tail(log_path)}"
            )
        time.sleep(0.05)
    raise ProviderStartError(
        f"oidc-provider not ready after {timeout:.0f}s:\n{_log_tail(log_path)}"
    )


def _fetch_discovery(issuer: str, timeout: float) -> dict[str, Any]:
    parts = urlsplit(issuer)
    assert parts.hostname == "127.0.0.1", issuer
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", "/.well-known/openid-configuration")
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise ProviderStartError(f"discovery answered {response.status}")
    document: dict[str, Any] = json.loads(body)
    return document


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Closes stdin (the server exits on EOF), then SIGTERM, then SIGKILL after a timeout."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=_STOP_TIMEOUT)
        return
    except subprocess.TimeoutExpired:
        proc.terminate()
    try:
        proc.wait(timeout=_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=_STOP_TIMEOUT)


@contextlib.contextmanager
def running_provider(
    tools: NodeTools,
    workdir: Path,
    *,
    access_token_ttl: int = 30,
    device_code_ttl: int | None = None,
    ready_timeout: float = 20.0,
) -> Iterator[OidcProvider]:
    """Starts ``node server.mjs`` on an ephemeral 127.0.0.1 port; stops it on exit.

    ``workdir`` receives ``config.json`` (mode 0600: it holds client secrets) and
    ``provider.log`` (stdout and stderr of the server). ``device_code_ttl`` (seconds)
    replaces oidc-provider's 10-minute device code lifetime, for expiry tests.
    """
    clients = make_clients()
    ttl = {"AccessToken": access_token_ttl, "ClientCredentials": access_token_ttl}
    if device_code_ttl is not None:
        ttl["DeviceCode"] = device_code_ttl
    settings = {
        "clients": [client.metadata() for client in clients.values()],
        "ttl": ttl,
    }
    config_path = workdir / "config.json"
    fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as config_file:
        json.dump(settings, config_file)
    log_path = workdir / "provider.log"
    command = [tools.node, "server.mjs", "--config", str(config_path), "--exit-on-stdin-close"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command, cwd=PROVIDER_DIR, stdin=subprocess.PIPE, stdout=log, stderr=log
        )
    try:
        ready = _wait_ready(proc, log_path, ready_timeout)
        issuer = str(ready["issuer"])
        yield OidcProvider(
            issuer=issuer,
            metadata=_fetch_discovery(issuer, timeout=ready_timeout),
            clients=clients,
            api_url=str(ready["api_url"]),
            api_resource=str(ready["api_resource"]),
            jwt_api_resource=str(ready["jwt_api_resource"]),
            access_token_ttl=access_token_ttl,
            log_path=log_path,
        )
    finally:
        _stop(proc)
