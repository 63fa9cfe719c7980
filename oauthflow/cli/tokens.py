"""``oauthflow token``, and the token source it shares with ``oauthflow call``.

Two sources:

- a profile (default): the stored login, refreshed transparently with its refresh token by
  a :class:`~oauthflow.TokenManager` whose store is the profile's. A fresh stored token is
  printed without any request; a token inside its renewal window is refreshed first, and the
  new one (with a rotated refresh token) is saved before it is printed. Processes sharing a
  profile file store refresh once between them (the store's lock).
- ``--client-credentials``: a client credentials grant (RFC 6749 §4.4) from flags and
  environment, for scripts and services; nothing is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import click

from oauthflow.cli.console import run
from oauthflow.cli.exit_codes import CliError, ExitCode, Hints
from oauthflow.cli.options import ClientOptions, client_for_profile, client_options
from oauthflow.cli.profiles import Profile, home_directory, load_profile, token_store
from oauthflow.cli.provider import discover_provider
from oauthflow.token_manager import TokenManager
from oauthflow.transport import Transport

__all__ = [
    "TokenSourceOptions",
    "logged_in_profile",
    "open_token_source",
    "print_token",
    "token_command",
    "token_source_options",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenSourceOptions:
    """Where the access token comes from: the profile, or a client credentials grant."""

    options: ClientOptions
    client_credentials: bool = False
    token_endpoint: str | None = None

    def hints(self) -> Hints:
        return self.options.hints()

    def check(self) -> None:
        """Raise a usage error for contradictory options (before anything is sent)."""
        if self.token_endpoint and not self.client_credentials:
            raise CliError(ExitCode.USAGE, "--token-endpoint goes with --client-credentials")
        if self.client_credentials:
            if not self.options.client_id:
                raise CliError(ExitCode.USAGE, "--client-credentials needs --client-id "
                               "(or OAUTHFLOW_CLIENT_ID)")
            if not (self.options.issuer or self.token_endpoint):
                raise CliError(ExitCode.USAGE, "--client-credentials needs --issuer (or "
                               "OAUTHFLOW_ISSUER) or --token-endpoint")


def token_source_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--client-credentials`` and ``--token-endpoint`` to a command."""
    command = click.option(
        "--token-endpoint",
        help="With --client-credentials: the token endpoint URL (instead of --issuer).",
    )(command)
    return click.option(
        "--client-credentials", is_flag=True,
        help="Get the token with the client credentials grant (client id and secret from "
             "flags or environment) instead of the profile's login.",
    )(command)


async def logged_in_profile(name: str) -> Profile:
    """The profile called ``name`` (exit code 4 with a "log in" message when there is none).

    Cancellation: the file is read in a worker thread, which finishes on its own.
    """
    profile = await asyncio.to_thread(load_profile, home_directory(), name)
    if profile is None:
        login = "oauthflow login" + ("" if name == "default" else f" --profile {name}")
        raise CliError(ExitCode.REAUTHENTICATE,
                       f"not logged in (no profile {name!r}): run `{login} --issuer ...`")
    return profile


@asynccontextmanager
async def open_token_source(source: TokenSourceOptions) -> AsyncIterator[TokenManager]:
    """A started TokenManager for ``source``, closed (with its transport) on exit.

    Raises:
        CliError: usage errors; exit code 4 when the profile has no stored token.

    Cancellation: cancelling the body closes the manager, which waits for a refresh in
    flight (so a rotated refresh token is saved), then the transport.
    """
    source.check()
    opened = (_client_credentials(source.options, source.token_endpoint)
              if source.client_credentials else _profile_tokens(source.options))
    async with opened as manager:
        yield manager


@asynccontextmanager
async def _client_credentials(options: ClientOptions,
                              token_endpoint: str | None) -> AsyncIterator[TokenManager]:
    assert options.client_id is not None  # TokenSourceOptions.check
    client = options.client(options.client_id, need_secret=True)
    async with Transport(allow_insecure_http=options.insecure_http) as transport:
        if token_endpoint is None:
            assert options.issuer is not None  # TokenSourceOptions.check
            metadata = await discover_provider(transport, options.issuer,
                                               insecure_http=options.insecure_http,
                                               hints=options.hints())
            token_endpoint = metadata.token_endpoint
        async with TokenManager.for_client_credentials(
            client=client, token_endpoint=token_endpoint, scope=options.scope or None,
            resource=options.resource, transport=transport,
        ) as manager:
            yield manager


@asynccontextmanager
async def _profile_tokens(options: ClientOptions) -> AsyncIterator[TokenManager]:
    profile = await logged_in_profile(options.profile)
    client = client_for_profile(profile, options)
    store = token_store(home_directory(), profile)
    if await store.load() is None:
        raise CliError(ExitCode.REAUTHENTICATE,
                       f"profile {profile.name!r} holds no token: run "
                       f"`{options.hints().login_command}`")
    async with Transport(allow_insecure_http=profile.insecure_http) as transport, \
            TokenManager.for_refresh_token(
                client=client, token_endpoint=profile.token_endpoint, store=store,
                resource=profile.resource, transport=transport,
            ) as manager:
        yield manager


async def print_token(source: TokenSourceOptions) -> None:
    """Write a valid access token and a newline to stdout (nothing else).

    Cancellation: a refresh in flight is awaited by the manager's close, so a rotated
    refresh token it received is still saved.
    """
    async with open_token_source(source) as tokens:
        token = await tokens.get()
    click.echo(token.access_token)


@click.command("token")
@token_source_options
@client_options
def token_command(options: ClientOptions, client_credentials: bool,
                  token_endpoint: str | None) -> None:
    """Print a valid access token (refreshed if needed) for scripts.

    \b
    curl -H "Authorization: Bearer $(oauthflow token)" https://api.example.com/
    """
    source = TokenSourceOptions(options=options, client_credentials=client_credentials,
                                token_endpoint=token_endpoint or None)
    run(lambda: print_token(source), source.hints())
