"""``oauthflow inspect [JWT]``: what a JWT says, or what a profile's stored token is.

With a JWT (``-`` reads it from stdin): its header and claims, decoded but **not verified**,
and its expiry in words ("expires in 4 min", "expired 2 h ago"). Without one: the profile's
stored token: type, scope, expiry, whether it has a refresh token and an ID token, and the
decoded claims of whichever of them are JWTs.

Token values and JWT signatures are replaced by a placeholder unless ``--show-secrets``.
Nothing is sent anywhere. ``--json`` writes the same report as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Final

import click
from rich.console import Console
from rich.markup import escape

from oauthflow.cli.console import run, stdout_console
from oauthflow.cli.exit_codes import CliError, ExitCode, Hints
from oauthflow.cli.jwt_view import (
    TIME_CLAIMS,
    decode_jwt,
    describe_expiry,
    describe_time,
    redact,
)
from oauthflow.cli.options import profile_option
from oauthflow.cli.profiles import home_directory, token_store
from oauthflow.cli.tokens import logged_in_profile
from oauthflow.token import Token

__all__ = ["inspect_command", "jwt_report", "token_report"]

NOT_VERIFIED: Final = (
    "decoded, NOT verified: anyone can write these claims; only a signature check "
    "against the issuer's keys makes them trustworthy"
)


def jwt_report(token: str, *, now: float, show_secrets: bool) -> dict[str, Any]:
    """The decoded JWT as a JSON-ready dict (raises ValueError if it is not a JWT)."""
    decoded = decode_jwt(token)
    exp = decoded.claims.get("exp")
    numeric = isinstance(exp, (int, float)) and not isinstance(exp, bool)
    expiry = describe_expiry(exp, now) if numeric else "no expiry given"
    report: dict[str, Any] = {
        "verified": False,
        "note": NOT_VERIFIED,
        "header": decoded.header,
        "claims": decoded.claims,
        "expiry": expiry,
        "signature": (token.strip().rsplit(".", 1)[1] if show_secrets
                      else redact("signature", decoded.signature_chars)),
    }
    if show_secrets:
        report["token"] = token.strip()
    return report


def token_report(token: Token, *, now: float, show_secrets: bool) -> dict[str, Any]:
    """A stored token as a JSON-ready dict: metadata, and its JWTs decoded."""
    report: dict[str, Any] = {
        "token_type": token.token_type,
        "scope": list(token.scope) if token.scope is not None else None,
        "expires_at": token.expires_at,
        "expiry": describe_expiry(token.expires_at, now),
        "has_refresh_token": token.refresh_token is not None,
        "has_id_token": token.id_token is not None,
        "access_token": (token.access_token if show_secrets
                         else redact("access token", len(token.access_token))),
    }
    if token.refresh_token is not None:
        report["refresh_token"] = (token.refresh_token if show_secrets
                                   else redact("refresh token", len(token.refresh_token)))
    for name, value in (("access_token_jwt", token.access_token), ("id_token_jwt",
                                                                    token.id_token)):
        if value is None:
            continue
        try:
            report[name] = jwt_report(value, now=now, show_secrets=show_secrets)
        except ValueError as exc:
            report[name] = {"opaque": str(exc)}
    return report


def _render_jwt(console: Console, title: str, report: dict[str, Any], now: float) -> None:
    if "opaque" in report:
        console.print(f"[bold]{title}[/]: opaque ({escape(report['opaque'])}); only its "
                      "issuer and the API can read it")
        return
    console.print(f"[bold]{title}[/] ([yellow]{NOT_VERIFIED}[/])")
    console.print(f"  header: {json.dumps(report['header'], sort_keys=True)}", markup=False)
    console.print("  claims:")
    claims: dict[str, Any] = report["claims"]
    width = max((len(name) for name in claims), default=0)
    for name, value in claims.items():
        shown = (describe_time(value, now) if name in TIME_CLAIMS else None) or (
            value if isinstance(value, str) else json.dumps(value))
        console.print(f"    {name.ljust(width)}  {shown}", markup=False)
    console.print(f"  expiry: {report['expiry']}", markup=False)
    console.print(f"  signature: {report['signature']}", markup=False)
    if "token" in report:
        console.print(f"  token: {report['token']}", markup=False)


def _render_token(console: Console, report: dict[str, Any], now: float) -> None:
    console.print(f"[bold]Profile {escape(repr(report['profile']))}[/]: {escape(report['issuer'])}"
                  f" (client {escape(report['client_id'])}, {report['store']} store)")
    rows = [
        ("token type", report["token_type"]),
        ("scope", " ".join(report["scope"]) if report["scope"] is not None else "(not given)"),
        ("expiry", report["expiry"]),
        ("refresh token", "yes" if report["has_refresh_token"] else "no"),
        ("ID token", "yes" if report["has_id_token"] else "no"),
        ("access token", report["access_token"]),
    ]
    if "refresh_token" in report:
        rows.append(("refresh token value", report["refresh_token"]))
    for label, value in rows:
        console.print(f"  {label.ljust(19)} {value}", markup=False)
    for key, title in (("access_token_jwt", "Access token"), ("id_token_jwt", "ID token")):
        if key in report:
            _render_jwt(console, title, report[key], now)


async def inspect(jwt: str | None, profile: str, *, show_secrets: bool, as_json: bool) -> None:
    """Decode ``jwt``, or describe ``profile``'s stored token; write the report to stdout.

    Cancellation: nothing to undo (nothing is sent or written; a store read in a worker
    thread finishes on its own).
    """
    now = time.time()
    if jwt is not None:
        text = sys.stdin.read() if jwt == "-" else jwt
        try:
            report = jwt_report(text, now=now, show_secrets=show_secrets)
        except ValueError as exc:
            raise CliError(ExitCode.USAGE, str(exc)) from None
    else:
        stored_profile = await logged_in_profile(profile)
        token = await token_store(home_directory(), stored_profile).load()
        if token is None:
            raise CliError(ExitCode.REAUTHENTICATE,
                           f"profile {profile!r} holds no token: run "
                           f"`{Hints(profile=profile).login_command}`")
        report = {
            "profile": stored_profile.name, "issuer": stored_profile.issuer,
            "client_id": stored_profile.client_id, "store": stored_profile.store,
            **token_report(token, now=now, show_secrets=show_secrets),
        }
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    elif jwt is not None:
        _render_jwt(stdout_console(), "JWT", report, now)
    else:
        _render_token(stdout_console(), report, now)


@click.command("inspect")
@click.argument("jwt", required=False)
@profile_option
@click.option("--show-secrets", is_flag=True,
              help="Show token values and JWT signatures (hidden by default).")
@click.option("--json", "as_json", is_flag=True, help="Write the report as JSON.")
def inspect_command(jwt: str | None, profile: str, show_secrets: bool, as_json: bool) -> None:
    """Decode JWT (or '-' for stdin), or describe the profile's stored token.

    Decoding does NOT verify the signature: the claims shown are what the token says,
    not what is proven.
    """
    run(lambda: inspect(jwt, profile, show_secrets=show_secrets, as_json=as_json),
        Hints(profile=profile))
