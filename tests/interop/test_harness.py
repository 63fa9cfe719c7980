"""The harness itself: process failures are reported with the log, pages parse. No Node needed.

A fake ``node`` (a Python script) stands in for the provider so the failure paths are exercised
without Node.js: an early exit, a server that never prints READY, and the stdin-EOF stop.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from yarl import URL

from .headless import parse_page, redirect_matcher
from .provider_process import NodeTools, ProviderStartError, make_clients, running_provider

__all__: list[str] = []


def fake_node(tmp_path: Path, body: str) -> NodeTools:
    script = tmp_path / "fake-node"
    script.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n", encoding="utf-8")
    script.chmod(0o755)
    return NodeTools(node=str(script), npm="/nonexistent/npm")


def test_early_exit_is_reported_with_the_log_tail(tmp_path: Path) -> None:
    tools = fake_node(tmp_path, "print('boom: cannot start', file=sys.stderr)\nsys.exit(3)")
    with (
        pytest.raises(ProviderStartError, match=r"exited with 3:\nboom: cannot start"),
        running_provider(tools, tmp_path),
    ):
        pytest.fail("must not be reached")


def test_never_ready_times_out_and_the_process_is_stopped(tmp_path: Path) -> None:
    # Exits on stdin EOF, as server.mjs does with --exit-on-stdin-close.
    tools = fake_node(tmp_path, "print('starting', flush=True)\nsys.stdin.read()")
    started = time.monotonic()
    with (
        pytest.raises(ProviderStartError, match=r"not ready after 0s:\nstarting"),
        running_provider(tools, tmp_path, ready_timeout=0.3),
    ):
        pytest.fail("must not be reached")
    assert time.monotonic() - started < 3.0


def test_config_file_is_private_and_secrets_stay_out_of_repr(tmp_path: Path) -> None:
    tools = fake_node(tmp_path, "sys.exit(0)")
    with pytest.raises(ProviderStartError), running_provider(tools, tmp_path):
        pytest.fail("must not be reached")
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o600
    for client in make_clients().values():
        text = repr(client)
        if client.client_secret is not None:
            assert client.client_secret not in text
        if client.private_jwk is not None:
            assert str(client.private_jwk["d"]) not in text
            assert "d" not in client.metadata()["jwks"]["keys"][0]


def test_parse_page_reads_forms_hidden_fields_links_and_entities() -> None:
    page = parse_page(
        "<html><head><title> Sign-in </title></head><body>"
        '<form id="f1" method="post" action="/interaction/a&amp;b">'
        '<input type="hidden" name="prompt" value="login"/>'
        '<input required type="text" name="login">'
        "</form>"
        '<form method="post" action="/cb"><input type="hidden" name="code" value="x&lt;y"/></form>'
        '<a href="/interaction/abc/abort">[ Cancel ]</a></body></html>'
    )
    assert page.title == "Sign-in"
    login = page.form_with("prompt", "login")
    assert login is not None
    assert (login.id, login.method, login.action) == ("f1", "POST", "/interaction/a&b")
    assert login.fields == {"prompt": "login", "login": ""}
    assert login.hidden_only is False
    assert page.forms[1].fields == {"code": "x<y"}
    assert page.forms[1].hidden_only is True
    assert page.links == ["/interaction/abc/abort"]


@pytest.mark.parametrize(
    ("redirect_uri", "url", "expected"),
    [
        ("http://127.0.0.1/callback", "http://127.0.0.1/callback?code=1", True),
        ("http://127.0.0.1/callback", "http://127.0.0.1:8123/callback?code=1", True),
        ("http://127.0.0.1:8123/callback", "http://127.0.0.1:9000/callback", False),
        ("http://127.0.0.1/callback", "http://127.0.0.1/interaction/x", False),
        ("http://127.0.0.1/callback", "https://127.0.0.1/callback", False),
    ],
)
def test_redirect_uri_matching(redirect_uri: str, url: str, expected: bool) -> None:
    assert redirect_matcher(redirect_uri)(URL(url)) is expected
