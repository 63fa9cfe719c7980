"""The options the commands share, and how flags, environment and profile combine.

Precedence: a flag beats its environment variable (click reads ``OAUTHFLOW_ISSUER``,
``OAUTHFLOW_CLIENT_ID``, ``OAUTHFLOW_CLIENT_SECRET``, ``OAUTHFLOW_SCOPE``,
``OAUTHFLOW_PROFILE``), which beats the profile file. A client secret is never read from
the profile file: it is not written there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, cast

import click

from oauthflow.cli.exit_codes import CliError, ExitCode, Hints
from oauthflow.cli.profiles import Profile
from oauthflow.config import ClientAuthMethod, ClientConfig

__all__ = [
    "AUTH_METHODS",
    "ClientOptions",
    "client_for_profile",
    "client_options",
    "profile_option",
    "secret_option",
    "split_words",
]

AUTH_METHODS: Final = ("none", "client_secret_basic", "client_secret_post")
_Command = Callable[..., Any]


def split_words(values: Iterable[str]) -> tuple[str, ...]:
    """Scopes or resources given as repeated options and/or space-separated: deduplicated,
    in order (``--scope "openid profile" --scope email``)."""
    words: dict[str, None] = {}
    for value in values:
        for word in value.replace(",", " ").split():
            words.setdefault(word, None)
    return tuple(words)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """The client and provider settings given on the command line or in the environment."""

    profile: str
    issuer: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scope: tuple[str, ...] = ()
    resource: tuple[str, ...] = ()
    auth_method: ClientAuthMethod | None = None
    insecure_http: bool = False

    def hints(self, *, during_login: bool = False) -> Hints:
        return Hints(profile=self.profile, issuer=self.issuer, during_login=during_login)

    def client(self, client_id: str, *, need_secret: bool = False) -> ClientConfig:
        """The client configuration (``need_secret``: a confidential client is required).

        Raises:
            CliError: usage (2): no secret where one is needed, or ``--auth-method`` needing
                a secret that was not given.
        """
        method = self.auth_method or ("client_secret_basic" if self.client_secret else "none")
        if method == "none":
            if need_secret:
                raise CliError(ExitCode.USAGE, _SECRET_NEEDED)
            return ClientConfig(client_id=client_id, auth_method="none")
        if not self.client_secret:
            raise CliError(ExitCode.USAGE, _SECRET_NEEDED)
        return ClientConfig(client_id=client_id, client_secret=self.client_secret,
                            auth_method=method)


_SECRET_NEEDED: Final = (
    "this needs the client secret: set OAUTHFLOW_CLIENT_SECRET (or pass --client-secret)"
)


def client_for_profile(profile: Profile, options: ClientOptions | None = None,
                       client_secret: str | None = None) -> ClientConfig:
    """The client a profile logged in with; the secret from the options or ``client_secret``.

    Raises:
        CliError: usage (2): ``--issuer`` or ``--client-id`` contradict the profile (the
            token belongs to the profile's client), or a confidential client's secret is
            missing.
    """
    if options is not None:
        _same(options.issuer, profile.issuer, "--issuer / OAUTHFLOW_ISSUER", profile)
        _same(options.client_id, profile.client_id, "--client-id / OAUTHFLOW_CLIENT_ID", profile)
        client_secret = options.client_secret or client_secret
    if not profile.confidential:
        return ClientConfig(client_id=profile.client_id, auth_method="none")
    if not client_secret:
        raise CliError(
            ExitCode.USAGE,
            f"profile {profile.name!r} uses a confidential client ({profile.client_id}): "
            "set OAUTHFLOW_CLIENT_SECRET (or pass --client-secret)",
        )
    return ClientConfig(client_id=profile.client_id, client_secret=client_secret,
                        auth_method=profile.auth_method)


def _same(given: str | None, stored: str, name: str, profile: Profile) -> None:
    if given is not None and given.rstrip("/") != stored.rstrip("/"):
        raise CliError(
            ExitCode.USAGE,
            f"{name} ({given}) differs from what profile {profile.name!r} logged in with "
            f"({stored}): use another --profile, or log in again",
        )


def profile_option(command: _Command) -> _Command:
    """``--profile NAME`` (``OAUTHFLOW_PROFILE``, default ``default``)."""
    return click.option(
        "--profile", "-p", default="default", show_default=True, envvar="OAUTHFLOW_PROFILE",
        show_envvar=True, help="The named login to use.",
    )(command)


def secret_option(command: _Command) -> _Command:
    """``--client-secret`` (``OAUTHFLOW_CLIENT_SECRET``; prefer the variable: flags show in ps)."""
    return click.option(
        "--client-secret", envvar="OAUTHFLOW_CLIENT_SECRET", show_envvar=True,
        help="Secret of a confidential client. Prefer the environment variable (a flag is "
             "visible to other users in the process list). Never stored.",
    )(command)


_CLIENT_OPTIONS: Final[tuple[Callable[[_Command], _Command], ...]] = (
    click.option("--issuer", envvar="OAUTHFLOW_ISSUER", show_envvar=True,
                 help="The provider's issuer URL (its discovery document is read)."),
    click.option("--client-id", envvar="OAUTHFLOW_CLIENT_ID", show_envvar=True,
                 help="The client (application) id registered at the provider."),
    click.option("--scope", "-s", multiple=True, envvar="OAUTHFLOW_SCOPE", show_envvar=True,
                 help="Scopes to ask for; repeat it or separate them with spaces."),
    click.option("--resource", multiple=True,
                 help="RFC 8707 resource indicator (the API the token is for); repeatable."),
    click.option("--auth-method", type=click.Choice(AUTH_METHODS),
                 help="How the client authenticates [default: client_secret_basic with a "
                      "secret, else none (a public client)]."),
    click.option("--insecure-http", is_flag=True,
                 help="Allow plain http to hosts other than loopback (test rigs only)."),
)


def client_options(command: _Command) -> _Command:
    """Add ``--profile``, ``--issuer``, ``--client-id``, ``--client-secret``, ``--scope``,
    ``--resource``, ``--auth-method``, ``--insecure-http``; pass them as ``options``.

    Put it directly above the function (below every other option).
    """

    @functools.wraps(command)
    def packed(*, profile: str, issuer: str | None, client_id: str | None,
               client_secret: str | None, scope: tuple[str, ...], resource: tuple[str, ...],
               auth_method: str | None, insecure_http: bool, **rest: Any) -> Any:
        options = ClientOptions(
            profile=profile, issuer=issuer or None, client_id=client_id or None,
            client_secret=client_secret or None, scope=split_words(scope),
            resource=split_words(resource),
            auth_method=cast("ClientAuthMethod | None", auth_method),
            insecure_http=insecure_http,
        )
        return command(options=options, **rest)

    decorated: _Command = secret_option(packed)
    for option in reversed(_CLIENT_OPTIONS):
        decorated = option(decorated)
    return profile_option(decorated)
