"""``oauthflow call METHOD URL``: one HTTP request with the access token attached, like a tiny curl.

The token comes from the profile (or ``--client-credentials``) through a
:class:`~oauthflow.BearerAuthMiddleware` scoped to the URL's origin: a redirect to another
origin does not get the token, and a 401 ``invalid_token`` is renewed and retried once.

The response body goes to stdout as received (pipe it to ``jq``); the status line goes to
stderr (with ``--include``, the status line and headers go to stdout before the body).
A non-2xx answer ends with exit code 1.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final
from urllib.parse import urlsplit

import aiohttp
import click
from multidict import CIMultiDict

from oauthflow.cli.console import run, stderr_console
from oauthflow.cli.exit_codes import CliError, ExitCode
from oauthflow.cli.options import ClientOptions, client_options
from oauthflow.cli.tokens import TokenSourceOptions, open_token_source, token_source_options
from oauthflow.errors import ConfigurationError
from oauthflow.middleware import BearerAuthMiddleware
from oauthflow.protocol.urls import require_secure_url

__all__ = ["CallRequest", "call", "call_command", "parse_header"]

# RFC 9110 §9.1 method = token; §5.6.2 tchar.
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FORM: Final = "application/x-www-form-urlencoded"


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` as ``("Name", "value")``; a usage error if it is not a header."""
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not _TOKEN.fullmatch(name) or any(ord(c) < 32 and c != "\t" for c in value):
        raise CliError(ExitCode.USAGE, f'-H expects "Name: value", got {name or text!r}')
    if name.lower() == "authorization":
        raise CliError(ExitCode.USAGE, "-H Authorization: oauthflow attaches the token itself")
    return name, value


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRequest:
    """The request ``oauthflow call`` sends."""

    source: TokenSourceOptions
    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = field(default=None, repr=False)
    include: bool = False
    timeout: float = 30.0


def _body(data: str | None, json_text: str | None,
          headers: CIMultiDict[str]) -> bytes | None:
    if data is not None and json_text is not None:
        raise CliError(ExitCode.USAGE, "give either -d/--data or --json, not both")
    if json_text is not None:
        try:
            json.loads(json_text)
        except ValueError as exc:
            raise CliError(ExitCode.USAGE, f"--json is not valid JSON: {exc}") from None
        headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Accept", "application/json")
        return json_text.encode("utf-8")
    if data is None:
        return None
    headers.setdefault("Content-Type", _FORM)
    if data == "@-":
        return sys.stdin.buffer.read()
    if data.startswith("@"):
        try:
            with open(data[1:], "rb") as file:
                return file.read()
        except OSError as exc:
            raise CliError(ExitCode.USAGE, f"-d {data}: {exc.strerror}") from None
    return data.encode("utf-8")


async def call(request: CallRequest) -> ExitCode:
    """Send the request; write the answer; exit code 0 for 2xx, 1 otherwise.

    Cancellation: cancelling abandons the request in flight (aiohttp closes the connection).
    """
    try:
        require_secure_url(request.url, what="the URL",
                           allow_insecure_http=request.source.options.insecure_http)
    except ConfigurationError as exc:
        raise CliError(ExitCode.USAGE, f"{exc}; pass --insecure-http to send the token over "
                       "plain http (test rigs only)") from None
    async with open_token_source(request.source) as tokens:
        bearer = BearerAuthMiddleware(tokens, origins=[request.url])
        timeout = aiohttp.ClientTimeout(total=request.timeout)
        try:
            async with aiohttp.ClientSession(middlewares=(bearer,), timeout=timeout) as session, \
                    session.request(request.method, request.url, headers=list(request.headers),
                                    data=request.body) as response:
                body = await response.read()
                status, reason = response.status, response.reason or ""
                header_lines = [f"{name}: {value}" for name, value in response.headers.items()]
                http = response.version
                version = f"HTTP/{http.major}.{http.minor}" if http else "HTTP"
        except (asyncio.TimeoutError, TimeoutError):
            raise CliError(ExitCode.UNREACHABLE, f"no answer from {_origin(request.url)} "
                           f"within {request.timeout:g} s") from None
        except aiohttp.ClientConnectionError as exc:
            raise CliError(ExitCode.UNREACHABLE, f"cannot reach {_origin(request.url)}: "
                           f"{type(exc).__name__}: check your network or the URL") from None
    reason = reason or _reason(status)
    sys.stdout.flush()
    out = sys.stdout.buffer
    if request.include:
        head = "\r\n".join([f"{version} {status} {reason}", *header_lines, "", ""])
        out.write(head.encode("utf-8", "replace"))
    else:
        stderr_console().print(f"{version} {status} {reason}", markup=False)
    out.write(body)
    out.flush()
    if 200 <= status < 300:
        return ExitCode.OK
    if status == 401:
        stderr_console().print("oauthflow: the API refused the token (HTTP 401)", markup=False)
    return ExitCode.FAILURE


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


@click.command("call")
@click.argument("method")
@click.argument("url")
@click.option("-H", "--header", "headers", multiple=True, metavar='"NAME: VALUE"',
              help="A request header; repeatable.")
@click.option("-d", "--data", help="Request body (form-encoded unless -H sets Content-Type); "
                                   "@FILE reads a file, @- standard input.")
@click.option("--json", "json_text", metavar="JSON",
              help="JSON request body (sets Content-Type and Accept to application/json).")
@click.option("-i", "--include", is_flag=True,
              help="Write the status line and response headers to stdout before the body.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30, show_default=True,
              help="Seconds for the whole request, the token included.")
@token_source_options
@client_options
def call_command(options: ClientOptions, client_credentials: bool, token_endpoint: str | None,
                 method: str, url: str, headers: tuple[str, ...], data: str | None,
                 json_text: str | None, include: bool, timeout: float) -> None:
    """Send METHOD URL with the access token; print the status and the body."""
    if not _TOKEN.fullmatch(method):
        raise click.BadParameter(f"{method!r} is not an HTTP method", param_hint="METHOD")
    parsed: CIMultiDict[str] = CIMultiDict()
    hints = options.hints()

    def prepare() -> CallRequest:
        for header in headers:
            parsed.add(*parse_header(header))
        body = _body(data, json_text, parsed)
        source = TokenSourceOptions(options=options, client_credentials=client_credentials,
                                    token_endpoint=token_endpoint or None)
        return CallRequest(source=source, method=method.upper(), url=url,
                           headers=tuple(parsed.items()), body=body, include=include,
                           timeout=timeout)

    async def send() -> ExitCode:
        return await call(prepare())

    run(send, hints)
