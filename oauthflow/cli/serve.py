"""``oauthflow serve``: the local authorization server of :mod:`oauthflow.testing`, for development.

It listens on 127.0.0.1 only, registers a public client for ``oauthflow login`` and a
confidential client for ``oauthflow token --client-credentials``, prints the issuer, the
endpoints, the clients and the test user, and runs until Ctrl-C or SIGTERM.

The confidential client's secret is random and printed (a throwaway development server:
nothing it issues is valid anywhere else), unless one is given with ``--client-secret`` or
``OAUTHFLOW_CLIENT_SECRET``: that one is not printed (it may be a real secret set for
another provider), and scripts can use the variable on both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from dataclasses import dataclass, field
from typing import Final

import click
from rich.console import Console

from oauthflow.cli.console import run, stdout_console
from oauthflow.cli.exit_codes import CliError, ExitCode, Hints
from oauthflow.testing import AuthorizationServer

__all__ = ["PUBLIC_CLIENT", "SERVICE_CLIENT", "ServeOptions", "serve", "serve_command"]

PUBLIC_CLIENT: Final = "oauthflow-cli"
SERVICE_CLIENT: Final = "oauthflow-service"
_SCOPE: Final = "openid profile email offline_access read write"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """How ``oauthflow serve`` runs the server."""

    port: int = 0
    token_lifetime: float = 3600.0
    poll_interval: float = 5.0
    client_secret: str | None = field(default=None, repr=False)


def _describe(server: AuthorizationServer, secret: str | None, console: Console) -> None:
    """Print the issuer, endpoints, clients and example commands (``secret``: the generated
    one to show, or ``None`` when it was given and must not be printed)."""
    issuer = server.issuer
    console.print(f"[bold]oauthflow test server[/] (development only): issuer {issuer}")
    endpoints = (
        ("discovery", f"{issuer}/.well-known/openid-configuration"),
        ("authorization", server.authorization_endpoint),
        ("token", server.token_endpoint),
        ("device authorization", server.device_authorization_endpoint),
        ("device page", server.device_verification_uri),
        ("revocation", server.revocation_endpoint),
        ("introspection", server.introspection_endpoint),
        ("userinfo", server.userinfo_endpoint),
        ("jwks", server.jwks_uri),
        ("protected API", server.api_url),
    )
    for name, url in endpoints:
        console.print(f"  {name:<21} {url}", markup=False)
    console.print("clients:")
    console.print(f"  {PUBLIC_CLIENT:<21} public (no secret): device flow, auth code + PKCE "
                  "(any loopback redirect), refresh", markup=False)
    shown = secret or "from --client-secret / OAUTHFLOW_CLIENT_SECRET (not shown)"
    console.print(f"  {SERVICE_CLIENT:<21} secret {shown}: client credentials", markup=False)
    console.print("user: alice (password alice)", markup=False)
    console.print("try:")
    console.print(f"  oauthflow login --issuer {issuer} --client-id {PUBLIC_CLIENT} "
                  "--scope 'openid offline_access read'", markup=False)
    given = f" --client-secret {secret}" if secret else ""
    console.print(f"  oauthflow token --client-credentials --issuer {issuer} "
                  f"--client-id {SERVICE_CLIENT}{given}", markup=False)
    console.print(f"  oauthflow call GET {server.api_url}hello", markup=False)
    console.print("Ctrl-C stops it.", markup=False)


async def serve(options: ServeOptions, *, console: Console | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Run the server until SIGINT / SIGTERM (or until ``stop`` is set).

    Raises:
        CliError: the port could not be bound (exit code 1).

    Cancellation: cancelling stops the server (connections closed, port released).
    """
    console = console or stdout_console()
    server = AuthorizationServer(port=options.port)
    server.settings.access_token_lifetime = options.token_lifetime
    server.settings.device_poll_interval = options.poll_interval
    stop = stop or asyncio.Event()
    try:
        await server.start()
    except OSError as exc:
        raise CliError(ExitCode.FAILURE, f"cannot listen on 127.0.0.1:{options.port} "
                       f"({exc.strerror or exc}): choose another --port") from None
    try:
        server.register_client(PUBLIC_CLIENT, scope=_SCOPE)
        secret = options.client_secret or secrets.token_urlsafe(24)
        server.register_client(SERVICE_CLIENT, secret, scope=_SCOPE)
        _describe(server, None if options.client_secret else secret, console)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(ValueError, RuntimeError):
                    loop.remove_signal_handler(signum)
        console.print("stopped", markup=False)
    finally:
        await server.stop()


@click.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--token-lifetime", type=click.FloatRange(min=0.1), default=3600.0,
              show_default=True, help="Seconds each access token lives.")
@click.option("--poll-interval", type=click.FloatRange(min=0.1), default=5.0,
              show_default=True, help="Seconds devices must wait between polls.")
@click.option("--client-secret", envvar="OAUTHFLOW_CLIENT_SECRET", show_envvar=True,
              help=f"Secret of the {SERVICE_CLIENT} client [default: random, printed].")
def serve_command(port: int, token_lifetime: float, poll_interval: float,
                  client_secret: str | None) -> None:
    """Run a local authorization server for development (until Ctrl-C)."""
    options = ServeOptions(port=port, token_lifetime=token_lifetime,
                           poll_interval=poll_interval, client_secret=client_secret or None)
    run(lambda: serve(options), Hints())
