"""The command line's pure parts (unit tests): durations in words, JWT decoding, option
parsing, the error-to-exit-code table, the profile file, the device prompt's countdown."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
from pathlib import Path

import pytest
from keyring.errors import NoKeyringError
from rich.console import Console

from oauthflow.cli.device_prompt import DevicePrompt, countdown_text
from oauthflow.cli.exit_codes import CliError, ExitCode, Hints, explain
from oauthflow.cli.http_call import parse_header
from oauthflow.cli.jwt_view import decode_jwt, describe_expiry, describe_time, human_duration
from oauthflow.cli.options import split_words
from oauthflow.cli.profiles import (
    Profile,
    ProfileError,
    delete_profile,
    load_profile,
    load_profiles,
    save_profile,
)
from oauthflow.clock import ManualClock
from oauthflow.errors import (
    AuthorizationResponseError,
    ConfigurationError,
    InvalidResponseError,
    OAuthError,
    ReauthenticationRequiredError,
    TokenUnavailableError,
    TransportError,
)
from oauthflow.protocol.device import DeviceAuthorization


@pytest.mark.parametrize(("seconds", "words"), [
    (0, "0 s"), (0.6, "1 s"), (59.4, "59 s"), (59.6, "1 min"), (270, "4 min"),
    (3599.4, "59 min"), (3599.6, "1 h"), (7250, "2 h"), (47 * 3600, "47 h"),
    (2 * 86400, "2 d"), (-7250, "2 h"),
], ids=str)
def test_human_duration(seconds: float, words: str) -> None:
    assert human_duration(seconds) == words


def test_describe_expiry() -> None:
    assert describe_expiry(1_000 + 270, 1_000) == "expires in 4 min"
    assert describe_expiry(1_000 - 7_250, 1_000) == "expired 2 h ago"
    assert describe_expiry(1_000, 1_000) == "expired 0 s ago"
    assert describe_expiry(None, 1_000) == "no expiry given"


def test_describe_time() -> None:
    assert describe_time(1_700_000_000, 1_700_000_090) == (
        "1700000000 (2023-11-14 22:13:20 UTC, 1 min ago)")
    assert describe_time(1_700_000_000.5, 1_699_999_000) == (
        "1700000000.5 (2023-11-14 22:13:20 UTC, in 16 min)")
    for value in (True, "1700000000", None, float("nan"), 1e300):
        assert describe_time(value, 0) is None


def test_decode_jwt_reads_header_and_claims_and_never_quotes_the_token() -> None:
    decoded = decode_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiZXhwIjo1fQ.c2ln\n")
    assert decoded.header == {"alg": "none"}
    assert decoded.claims == {"sub": "x", "exp": 5}
    assert decoded.signature_chars == 4
    with pytest.raises(ValueError, match="payload is not a JSON object") as raised:
        decode_jwt("eyJhbGciOiJub25lIn0.WzFd.c2ln")
    assert "WzFd" not in str(raised.value)


def test_split_words() -> None:
    assert split_words(["openid profile", "email", "profile,read"]) == (
        "openid", "profile", "email", "read")
    assert split_words([]) == ()


def test_parse_header() -> None:
    assert parse_header("X-Trace:  a b ") == ("X-Trace", "a b")
    assert parse_header("Accept: */*") == ("Accept", "*/*")
    for bad in ("no colon", ": value", "Bad Name: x", "X: a\rb"):
        with pytest.raises(CliError) as raised:
            parse_header(bad)
        assert raised.value.exit_code == ExitCode.USAGE


def test_countdown_text() -> None:
    assert countdown_text(599.7) == "Waiting for approval... the code expires in 9:59"
    assert countdown_text(61) == "Waiting for approval... the code expires in 1:01"
    assert countdown_text(0) == "Waiting for approval... the code has expired"


WORK = Hints(profile="work", issuer="https://login.example.com/tenant?x=secret")


@pytest.mark.parametrize(("error", "hints", "code", "message"), [
    (TransportError("connection_failed", "https://a.example/token", "ClientConnectorError"),
     Hints(), ExitCode.UNREACHABLE, "cannot reach https://a.example/token: check your network"),
    (TransportError("timeout", "https://a.example/x", "slow"), WORK, ExitCode.UNREACHABLE,
     "cannot reach https://a.example/x: no answer in time: check your network or the --issuer"),
    (TransportError("tls_failed", "https://a.example/x", "SSLError"), WORK,
     ExitCode.UNREACHABLE, "cannot reach https://a.example/x: the TLS handshake failed "
     "(certificate not trusted?): check the --issuer, or point SSL_CERT_FILE at your CA bundle"),
    (InvalidResponseError("issuer_mismatch", "x"), WORK, ExitCode.PROVIDER_ERROR,
     "the discovery document at https://login.example.com/tenant/.well-known/"
     "openid-configuration is for another issuer: check --issuer (it must be exactly the "
     "provider's issuer URL)"),
    (InvalidResponseError("missing_field", "no access_token", status=200), Hints(),
     ExitCode.PROVIDER_ERROR,
     "the provider's answer is unusable: missing_field: no access_token [HTTP 200]"),
    (ReauthenticationRequiredError("invalid_grant", "gone"), WORK, ExitCode.REAUTHENTICATE,
     "the session expired (the provider refused the refresh token): run "
     "`oauthflow login --profile work`"),
    (AuthorizationResponseError("access_denied", "no"), Hints(), ExitCode.LOGIN_FAILED,
     "the login was denied: run `oauthflow login` again"),
    (OAuthError("invalid_scope", "unknown scope", status=400),
     Hints(during_login=True), ExitCode.LOGIN_FAILED,
     "the provider said no: invalid_scope: unknown scope [HTTP 400]"),
    (OAuthError("invalid_scope", "unknown scope", status=400), Hints(), ExitCode.FAILURE,
     "the provider said no: invalid_scope: unknown scope [HTTP 400]"),
    (TokenUnavailableError("stored token unreadable"), WORK, ExitCode.REAUTHENTICATE,
     "stored token unreadable: run `oauthflow login --profile work`"),
    (ConfigurationError("bad"), Hints(), ExitCode.USAGE, "bad"),
    (PermissionError(13, "Permission denied"), Hints(), ExitCode.FAILURE,
     "PermissionError: [Errno 13] Permission denied"),
    (NoKeyringError("No recommended backend was available."), Hints(), ExitCode.FAILURE,
     "the system keyring failed (NoKeyringError: No recommended backend was available.): "
     "unlock or install a keyring backend, or log in with --store file"),
], ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "")
def test_explain(error: Exception, hints: Hints, code: ExitCode, message: str) -> None:
    explained = explain(error, hints)
    assert (explained.exit_code, explained.message) == (code, message)
    assert "secret" not in explained.message  # the issuer's query is not repeated


def profile(name: str = "default", **changes: object) -> Profile:
    values: dict[str, object] = {
        "name": name, "issuer": "https://login.example.com", "client_id": "cli",
        "token_endpoint": "https://login.example.com/token", "scope": ("openid",),
    }
    values.update(changes)
    return Profile(**values)  # type: ignore[arg-type]


def test_profiles_round_trip_privately(tmp_path: Path) -> None:
    home = tmp_path / "home"
    save_profile(home, profile())
    save_profile(home, profile("b", store="keyring", auth_method="client_secret_post"))
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(home / "profiles.json").st_mode) == 0o600
    assert load_profiles(home) == {"default": profile(),
                                   "b": profile("b", store="keyring",
                                                auth_method="client_secret_post")}
    assert delete_profile(home, "default") is True
    assert delete_profile(home, "default") is False
    assert load_profile(home, "default") is None
    assert list(load_profiles(home)) == ["b"]


def test_unknown_members_of_a_profile_are_kept(tmp_path: Path) -> None:
    home = tmp_path
    save_profile(home, profile())
    document = json.loads((home / "profiles.json").read_text())
    document["profiles"]["default"]["from_a_newer_version"] = 1
    (home / "profiles.json").write_text(json.dumps(document))
    save_profile(home, profile("other"))
    saved = json.loads((home / "profiles.json").read_text())["profiles"]["default"]
    assert saved["from_a_newer_version"] == 1


def test_a_damaged_profile_is_reported_with_the_way_out(tmp_path: Path) -> None:
    (tmp_path / "profiles.json").write_text(json.dumps(
        {"oauthflow_profiles": 1, "profiles": {"x": {"issuer": "https://a.example"}}}))
    with pytest.raises(ProfileError) as raised:
        load_profiles(tmp_path)
    assert raised.value.exit_code == ExitCode.FAILURE
    assert raised.value.message == (
        "profile 'x' in profiles.json is damaged ('client_id'); run "
        "`oauthflow logout --profile x --no-revoke` and log in again")


def authorization(expires_in: float, *, complete: bool = True) -> DeviceAuthorization:
    page = "https://login.example.com/device"
    return DeviceAuthorization(
        device_code="device-code-secret", user_code="WDJB-MJHT", verification_uri=page,
        verification_uri_complete=f"{page}?user_code=WDJB-MJHT" if complete else None,
        expires_at=1_000.0 + expires_in, interval=5.0,
    )


@pytest.mark.asyncio
async def test_device_prompt_counts_down_on_a_terminal_and_cleans_up() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    clock = ManualClock(wall=1_000.0)
    opened: list[str] = []

    def opener(url: str) -> bool:
        opened.append(url)
        return True

    async with DevicePrompt(console, browser=True, clock=clock, opener=opener,
                            tick=0.001) as prompt:
        await prompt(authorization(600))
        clock.advance(61)
        for _ in range(100):
            if "expires in 8:59" in out.getvalue():
                break
            await asyncio.sleep(0.005)
    text = out.getvalue()
    assert "First copy your one-time code: WDJB-MJHT" in text
    assert "expires in 10:00" in text
    assert "expires in 8:59" in text
    assert opened == ["https://login.example.com/device?user_code=WDJB-MJHT"]
    assert "device-code-secret" not in text
    assert prompt._countdown is None
    assert prompt._live is None


@pytest.mark.asyncio
async def test_device_prompt_without_a_terminal_or_a_browser() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=100)

    async with DevicePrompt(console, browser=True, clock=ManualClock(wall=1_000.0),
                            opener=lambda _url: False) as prompt:
        await prompt(authorization(300, complete=False))

    assert out.getvalue() == (
        "First copy your one-time code: WDJB-MJHT\n"
        "Then open https://login.example.com/device in a browser and enter it.\n"
        "No browser could be opened: open the page yourself.\n"
        "Waiting for approval (the code expires in 5 min)...\n"
    )
