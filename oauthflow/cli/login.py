"""``oauthflow login``: sign a person in and keep the session in a named profile.

Two ways, both for public clients (a CLI cannot keep a secret; a confidential client works
too, with ``OAUTHFLOW_CLIENT_SECRET``):

- the device flow (default; RFC 8628): the user types a short code on a page, on any
  device; the CLI polls until they approved;
- ``--auth-code``: the authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636) through
  a loopback redirect (RFC 8252 §7.3): the browser comes back to ``http://127.0.0.1:<port>``
  where a one-shot receiver waits.

The token goes to the profile's store, the profile (no secret) to ``profiles.json``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import cast

import click
from rich.console import Console

from oauthflow.cli.console import run, stderr_console
from oauthflow.cli.device_prompt import DevicePrompt
from oauthflow.cli.exit_codes import CliError, ExitCode, Hints
from oauthflow.cli.jwt_view import describe_expiry
from oauthflow.cli.options import ClientOptions, client_options
from oauthflow.cli.profiles import (
    Profile,
    StoreKind,
    check_name,
    home_directory,
    load_profile,
    save_profile,
    token_store,
)
from oauthflow.cli.provider import discover_provider
from oauthflow.config import ClientAuthMethod, ClientConfig, ServerMetadata
from oauthflow.flows.authorization_code import exchange_code, start_authorization
from oauthflow.flows.device import device_login
from oauthflow.loopback import LoopbackReceiver, open_browser
from oauthflow.token import Token
from oauthflow.transport import Transport

__all__ = ["LoginRequest", "login", "login_command"]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LoginRequest:
    """What ``oauthflow login`` was asked to do."""

    options: ClientOptions
    auth_code: bool = False
    browser: bool = False
    store: StoreKind | None = None
    timeout: float = 300.0


@click.command("login")
@click.option("--auth-code", is_flag=True,
              help="Log in through the browser (authorization code + PKCE, loopback redirect) "
                   "instead of the device flow.")
@click.option("--browser", is_flag=True, help="Open the login page in the default browser.")
@click.option("--store", type=click.Choice(["file", "keyring"]),
              help="Where to keep the token [default: the profile's, else file].")
@click.option("--timeout", type=click.FloatRange(min=1), default=300, show_default=True,
              help="Seconds to wait for the browser to come back (--auth-code).")
@client_options
def login_command(options: ClientOptions, auth_code: bool, browser: bool, store: str | None,
                  timeout: float) -> None:
    """Log in (device flow, or --auth-code) and store the session in a profile."""
    request = LoginRequest(options=options, auth_code=auth_code, browser=browser,
                           store=cast("StoreKind | None", store), timeout=timeout)
    run(lambda: login(request), options.hints(during_login=True))


async def login(request: LoginRequest, console: Console | None = None) -> None:
    """Log in as ``request`` says; save the token and the profile.

    Raises:
        CliError: usage (missing issuer or client id), a login that timed out; and whatever
            discovery and the flows raise (mapped to exit codes by :func:`run`).

    Cancellation: cancelling stops the login at once (polling or waiting for the browser);
    nothing is saved.
    """
    console = console or stderr_console()
    options = request.options
    home = home_directory()
    existing = await asyncio.to_thread(load_profile, home, check_name(options.profile))
    profile_base = _settings(options, existing, request.store)
    client = dataclasses.replace(
        options, auth_method=options.auth_method or _inherited_method(existing, profile_base)
    ).client(profile_base.client_id)
    insecure = profile_base.insecure_http
    async with Transport(allow_insecure_http=insecure) as transport:
        metadata = await discover_provider(
            transport, profile_base.issuer, insecure_http=insecure,
            hints=Hints(profile=profile_base.name, issuer=profile_base.issuer,
                        during_login=True),
        )
        if request.auth_code:
            token = await _browser_login(transport, metadata, client, profile_base, request,
                                         console)
        else:
            token = await _device_login(transport, metadata, client, profile_base, request,
                                        console)
    profile = dataclasses.replace(
        profile_base, auth_method=client.method, token_endpoint=metadata.token_endpoint,
        revocation_endpoint=metadata.revocation_endpoint,
    )
    await _save(home, profile, existing, token)
    name = "" if profile.name == "default" else f" --profile {profile.name}"
    console.print(
        f"Logged in to {profile.issuer} (profile {profile.name!r}); the access token "
        f"{describe_expiry(token.expires_at, time.time())}"
        f"{', renewed with its refresh token' if token.refresh_token else ''}. "
        f"`oauthflow token{name}` prints it.",
        markup=False,
    )


def _settings(options: ClientOptions, existing: Profile | None,
              store: StoreKind | None) -> Profile:
    """The profile to log in with: flags and environment first, then the stored profile.

    The stored profile's client, scopes and resources are reused only for the same issuer.
    """
    issuer = options.issuer or (existing.issuer if existing else None)
    if not issuer:
        raise CliError(ExitCode.USAGE, "no issuer: pass --issuer or set OAUTHFLOW_ISSUER")
    same = existing if existing and existing.issuer.rstrip("/") == issuer.rstrip("/") else None
    client_id = options.client_id or (same.client_id if same else None)
    if not client_id:
        raise CliError(ExitCode.USAGE, "no client id: pass --client-id or set OAUTHFLOW_CLIENT_ID")
    return Profile(
        name=options.profile, issuer=issuer, client_id=client_id,
        scope=options.scope or (same.scope if same else ()),
        resource=options.resource or (same.resource if same else ()),
        token_endpoint=same.token_endpoint if same else issuer,  # replaced after discovery
        store=store or (existing.store if existing else "file"),
        insecure_http=options.insecure_http or bool(same and same.insecure_http),
    )


def _inherited_method(existing: Profile | None, profile: Profile) -> ClientAuthMethod | None:
    """A confidential profile's method, when logging in again with the same client (whose
    secret is then required)."""
    if existing is None or not existing.confidential:
        return None
    same = (existing.issuer.rstrip("/") == profile.issuer.rstrip("/")
            and existing.client_id == profile.client_id)
    return existing.auth_method if same else None


async def _device_login(transport: Transport, metadata: ServerMetadata, client: ClientConfig,
                        profile: Profile, request: LoginRequest, console: Console) -> Token:
    if not metadata.device_authorization_endpoint:
        raise CliError(
            ExitCode.USAGE,
            f"{profile.issuer} offers no device login (no device_authorization_endpoint in its "
            "discovery document): use --auth-code",
        )
    async with DevicePrompt(console, browser=request.browser) as prompt:
        return await device_login(
            transport, metadata, client, on_prompt=prompt, scope=profile.scope,
            extra_params=tuple(("resource", value) for value in profile.resource),
        )


async def _browser_login(transport: Transport, metadata: ServerMetadata, client: ClientConfig,
                         profile: Profile, request: LoginRequest, console: Console) -> Token:
    if not metadata.authorization_endpoint:
        raise CliError(
            ExitCode.USAGE,
            f"{profile.issuer} offers no browser login (no authorization_endpoint): "
            "use the device flow (without --auth-code)",
        )
    async with LoopbackReceiver() as receiver:
        pending = await start_authorization(
            transport, metadata, client, redirect_uri=receiver.redirect_uri,
            scope=profile.scope, resource=profile.resource,
            allow_insecure_http=profile.insecure_http,
        )
        console.print("Open this page in a browser to log in:")
        console.print(pending.url, markup=False)
        if request.browser and not await open_browser(pending.url):
            console.print("No browser could be opened: open the page yourself.")
        console.print(f"Waiting for the browser to come back to {receiver.redirect_uri} "
                      f"(up to {request.timeout:g} s)...", markup=False)
        try:
            callback = await receiver.wait_for_callback(
                expected_state=pending.state, timeout=request.timeout
            )
        except TimeoutError:
            login = "oauthflow login --auth-code" + (
                "" if profile.name == "default" else f" --profile {profile.name}")
            raise CliError(
                ExitCode.LOGIN_FAILED,
                f"the browser did not come back within {request.timeout:g} s: run `{login}` "
                "again",
            ) from None
    return await exchange_code(transport, metadata, client, pending, callback)


async def _save(home: Path, profile: Profile, existing: Profile | None, token: Token) -> None:
    """Token first (a profile without its token would say "logged in" wrongly), then the
    profile; a token left in the previous store kind is removed."""
    await token_store(home, profile).save(token)
    if existing is not None and existing.store != profile.store:
        await token_store(home, existing).clear()
    await asyncio.to_thread(save_profile, home, profile)
