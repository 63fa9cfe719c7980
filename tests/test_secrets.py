"""No secret in any log record, repr, str or exception message, through a whole run."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from urllib.parse import quote

import pytest

from oauthflow import (
    ClientConfig,
    ManualClock,
    Token,
    TokenManager,
    Transport,
)
from oauthflow.protocol.client_auth import build_client_auth
from oauthflow.protocol.token_endpoint import build_refresh_request
from tests.support.fake_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeServer,
)
from tests.support.renewal_run import ECHOED_REFRESH_TOKEN, run_every_renewal_path

pytestmark = pytest.mark.asyncio

CLIENT = ClientConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


def secrets_of(fake: FakeServer) -> list[str]:
    issued_access = [f"at-{n}" for n in range(1, 50)]
    basic = base64.b64encode(f"{quote(CLIENT_ID, safe='')}:{quote(CLIENT_SECRET, safe='')}"
                             .encode()).decode()
    return [*issued_access, *fake.issued_refresh_tokens, *fake.issued_id_tokens, "rt-0",
            CLIENT_SECRET, quote(CLIENT_SECRET, safe=""), basic]


def assert_clean(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        # "at-1" is a prefix of "at-10": match whole tokens to keep the check exact
        pattern = rf"(?<![\w-]){re.escape(secret)}(?![\w-])"
        assert re.search(pattern, text) is None, f"leaked {secret!r}"


async def test_a_whole_run_at_debug_leaks_nothing(
    fake: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = ManualClock()
    fake.grant_refresh_token("rt-0")
    texts: list[str] = []
    failures: list[BaseException] = []
    tokens = TokenManager.for_refresh_token(
        token_endpoint=fake.token_endpoint, client=CLIENT, clock=clock, refresh_token="rt-0",
        on_renewal_failed=failures.append,
    )
    refused = await run_every_renewal_path(fake, tokens, clock)
    texts += [str(refused), repr(refused), repr(tokens), str(tokens.current),
              repr(tokens.current)]

    assert len(failures) == 2
    for failure in failures[:1]:
        texts += [str(failure), repr(failure)]
    records = [record.getMessage() for record in caplog.records]
    assert any("renew" in message for message in records)  # the run did log at DEBUG
    texts += records
    assert fake.token_calls == 6  # first, 401 renewal, invalid_grant, 3 x 502
    secrets = [*secrets_of(fake), ECHOED_REFRESH_TOKEN]
    for text in texts:
        assert_clean(text, secrets)


async def test_reprs_of_values_hide_secrets() -> None:
    token = Token(access_token="AT-SECRET", refresh_token="RT-SECRET", id_token="ID-SECRET",
                  extra={"session_key": "EXTRA-SECRET"})
    client = ClientConfig(client_id="id", client_secret="CLIENT-SECRET")
    request = build_refresh_request("https://as.example/token", client, "RT-SECRET", now=0)
    auth = build_client_auth(client, audience="https://as.example/token", now=0)
    transport = Transport()
    rendered = " ".join([repr(token), str(token), repr(client), str(client), repr(request),
                         str(request), repr(auth), repr(transport)])
    for secret in ("AT-SECRET", "RT-SECRET", "ID-SECRET", "EXTRA-SECRET", "CLIENT-SECRET"):
        assert secret not in rendered
    assert "session_key" in rendered  # extra keys stay visible, values do not
    await transport.aclose()
    await asyncio.sleep(0)
