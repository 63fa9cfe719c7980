"""``oauthflow logout``: end the session at the provider, then forget it here.

Spec: RFC 7009 §2.1: the refresh token is revoked when there is one ("If the particular
token is a refresh token and the authorization server supports the revocation of access
tokens, then the authorization server SHOULD also invalidate all access tokens based on
the same authorization grant"), else the access token.

Order matters: revoke first, delete after. If the revocation fails (offline, refused),
nothing is deleted, so the user can try again; ``--no-revoke`` deletes without asking the
provider (the token then stays valid there until it expires).
"""

from __future__ import annotations

import asyncio

import click

from oauthflow.cli.console import run, stderr_console
from oauthflow.cli.exit_codes import CliError, Hints, explain
from oauthflow.cli.options import client_for_profile, profile_option, secret_option
from oauthflow.cli.profiles import delete_profile, home_directory, token_store
from oauthflow.cli.tokens import logged_in_profile
from oauthflow.config import ServerMetadata
from oauthflow.errors import OAuthFlowError
from oauthflow.flows.revocation import revoke_token
from oauthflow.transport import Transport

__all__ = ["logout", "logout_command"]


async def logout(profile_name: str, *, client_secret: str | None, revoke: bool) -> None:
    """Revoke (if asked and possible), then delete the stored token and the profile.

    Raises:
        CliError: exit code 4 when there is no such profile; the revocation's errors
            (nothing deleted then).

    Cancellation: cancelling during the revocation deletes nothing; the revocation may or
    may not have reached the provider (revoking again is harmless).
    """
    console = stderr_console()
    profile = await logged_in_profile(profile_name)
    home = home_directory()
    store = token_store(home, profile)
    token = await store.load()
    outcome = "no token was stored"
    if token is not None and not revoke:
        outcome = "the token was not revoked (--no-revoke): it works until it expires"
    elif token is not None and profile.revocation_endpoint is None:
        outcome = ("the provider has no revocation endpoint: the token works until it "
                   "expires")
    elif token is not None:
        client = client_for_profile(profile, client_secret=client_secret)
        server = ServerMetadata(issuer=profile.issuer, token_endpoint=profile.token_endpoint,
                                revocation_endpoint=profile.revocation_endpoint)
        try:
            async with Transport(allow_insecure_http=profile.insecure_http) as transport:
                await revoke_token(transport, server, client, token)
        except OAuthFlowError as exc:
            error = explain(exc, Hints(profile=profile.name))
            raise CliError(error.exit_code, f"{error.message} (nothing was deleted; "
                           f"`oauthflow logout{_flag(profile.name)} --no-revoke` deletes the "
                           "login without revoking)") from exc
        kind = "refresh token" if token.refresh_token else "access token"
        outcome = f"the {kind} was revoked at the provider"
    await store.clear()
    await asyncio.to_thread(delete_profile, home, profile.name)
    console.print(f"Logged out of profile {profile.name!r}: {outcome}.", markup=False)


def _flag(profile: str) -> str:
    return "" if profile == "default" else f" --profile {profile}"


@click.command("logout")
@profile_option
@secret_option
@click.option("--no-revoke", "no_revoke", is_flag=True,
              help="Delete the local login without revoking the token at the provider.")
def logout_command(profile: str, client_secret: str | None, no_revoke: bool) -> None:
    """Revoke the profile's token at the provider, then delete the token and the profile."""
    hints = Hints(profile=profile)
    run(lambda: logout(profile, client_secret=client_secret or None, revoke=not no_revoke),
        hints)
