"""Exit codes of the ``oauthflow`` command line, and the message that tells a person what to do.

Every failure ends the command with one line on stderr, ``oauthflow: <what happened>: <what to
do>``, and one of these exit codes (scripts branch on them):

====  ==========================================================================================
0     success
1     anything else (the provider refused the client, ``call`` got a non-2xx answer, I/O)
2     usage: a missing or invalid option, an ``http://`` URL without ``--insecure-http``
3     the login did not complete: denied, the code expired, nobody came back from the browser
4     re-authentication required: no stored session, or the provider refused the refresh token
5     unreachable: the provider did not answer (network, DNS, timeout, TLS)
6     the provider misbehaved: a discovery document for another issuer, none at all, or an
      answer that breaks the spec
130   interrupted (Ctrl-C)
====  ==========================================================================================

Messages never carry a secret: the library's errors guarantee it for their own text, and the
hints added here name only options, profiles and URLs without their query.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import IntEnum
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from oauthflow.errors import (
    ACCESS_DENIED,
    EXPIRED_TOKEN,
    INVALID_CLIENT,
    ConfigurationError,
    InvalidResponseError,
    OAuthError,
    ReauthenticationRequiredError,
    TokenUnavailableError,
    TransportError,
)

__all__ = ["CliError", "ExitCode", "Hints", "explain"]


class ExitCode(IntEnum):
    """The process exit status (see the module docstring)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    LOGIN_FAILED = 3
    REAUTHENTICATE = 4
    UNREACHABLE = 5
    PROVIDER_ERROR = 6


class CliError(Exception):
    """A failure the command line reports as ``oauthflow: <message>`` with ``exit_code``."""

    def __init__(self, exit_code: ExitCode, message: str) -> None:
        self.exit_code = exit_code
        self.message = message
        super().__init__(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hints:
    """What the command was doing, so the message can name the right option or command.

    Attributes:
        profile: the profile in use (``oauthflow login --profile <it>``).
        issuer: the issuer the command was given, if any.
        during_login: the failure happened while logging in (denied / expired mean the login).
    """

    profile: str = "default"
    issuer: str | None = None
    during_login: bool = False

    @property
    def login_command(self) -> str:
        if self.profile == "default":
            return "oauthflow login"
        return f"oauthflow login --profile {self.profile}"


_DISCOVERY_PATH: Final = "/.well-known/openid-configuration"


def explain(exc: BaseException, hints: Hints) -> CliError:
    """The exit code and message for an exception raised by a command.

    Anything not recognised becomes exit code 1 with the exception's type and text (the
    library's exception texts carry no secrets).
    """
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, TransportError):
        return _unreachable(exc, hints)
    if isinstance(exc, InvalidResponseError):
        return _misbehaved(exc, hints)
    if isinstance(exc, ReauthenticationRequiredError):
        return CliError(
            ExitCode.REAUTHENTICATE,
            f"the session expired (the provider refused the refresh token): "
            f"run `{hints.login_command}`",
        )
    if isinstance(exc, OAuthError):
        return _refused(exc, hints)
    if isinstance(exc, TokenUnavailableError):
        if isinstance(exc.__cause__, (TimeoutError, asyncio.TimeoutError)):
            return CliError(ExitCode.UNREACHABLE,
                            f"{exc}: check your network or the provider's status")
        return CliError(ExitCode.REAUTHENTICATE, f"{exc}: run `{hints.login_command}`")
    if isinstance(exc, ConfigurationError):
        return CliError(ExitCode.USAGE, _configuration_message(exc))
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return CliError(ExitCode.UNREACHABLE, f"timed out: {exc}")
    if type(exc).__module__.startswith("keyring."):  # keyring.errors.KeyringError & co.
        return CliError(
            ExitCode.FAILURE,
            f"the system keyring failed ({type(exc).__name__}: {exc}): unlock or install a "
            "keyring backend, or log in with --store file",
        )
    return CliError(ExitCode.FAILURE, f"{type(exc).__name__}: {exc}")


def _unreachable(exc: TransportError, hints: Hints) -> CliError:
    where = exc.url
    advice = "check your network or the --issuer" if hints.issuer else "check your network"
    if exc.code == TransportError.TLS_FAILED:
        return CliError(
            ExitCode.UNREACHABLE,
            f"cannot reach {where}: the TLS handshake failed (certificate not trusted?): "
            "check the --issuer, or point SSL_CERT_FILE at your CA bundle",
        )
    if exc.code == TransportError.TIMEOUT:
        return CliError(ExitCode.UNREACHABLE, f"cannot reach {where}: no answer in time: {advice}")
    return CliError(ExitCode.UNREACHABLE, f"cannot reach {where}: {advice}")


def _misbehaved(exc: InvalidResponseError, hints: Hints) -> CliError:
    issuer = _strip(hints.issuer) if hints.issuer else None
    if exc.code == InvalidResponseError.ISSUER_MISMATCH and issuer is not None:
        return CliError(
            ExitCode.PROVIDER_ERROR,
            f"the discovery document at {issuer.rstrip('/')}{_DISCOVERY_PATH} is for another "
            "issuer: check --issuer (it must be exactly the provider's issuer URL)",
        )
    if exc.code == InvalidResponseError.UNEXPECTED_STATUS and issuer is not None:
        status = f" (HTTP {exc.status})" if exc.status is not None else ""
        return CliError(
            ExitCode.PROVIDER_ERROR,
            f"no discovery document was found for {issuer}{status}: check --issuer",
        )
    return CliError(ExitCode.PROVIDER_ERROR, f"the provider's answer is unusable: {exc}")


def _refused(exc: OAuthError, hints: Hints) -> CliError:
    login = hints.login_command
    if exc.error == ACCESS_DENIED:
        return CliError(ExitCode.LOGIN_FAILED, f"the login was denied: run `{login}` again")
    if exc.error == EXPIRED_TOKEN:
        return CliError(
            ExitCode.LOGIN_FAILED,
            f"the login code expired before it was approved: run `{login}` again",
        )
    if exc.error == INVALID_CLIENT:
        return CliError(
            ExitCode.FAILURE,
            f"the provider refused the client ({exc}): check --client-id and --client-secret",
        )
    code = ExitCode.LOGIN_FAILED if hints.during_login else ExitCode.FAILURE
    return CliError(code, f"the provider said no: {exc}")


def _configuration_message(exc: ConfigurationError) -> str:
    text = str(exc)
    if "http is allowed only to a loopback host" in text:
        return f"{text}; pass --insecure-http to allow plain http (test rigs only)"
    return text


def _strip(url: str) -> str:
    """``url`` without userinfo, query or fragment (they may carry credentials)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "the issuer"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
