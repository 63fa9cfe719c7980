"""``oauthflow serve`` in a child process, used by the other commands as a developer would:
client credentials with the printed secret, a device login approved on its pages, a call to
its API; SIGTERM stops it cleanly (integration)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from oauthflow.testing.headless import HeadlessBrowser

from .support import TIMEOUT, CliProcess, child_env, invoke

pytestmark = pytest.mark.asyncio


async def test_serve_prints_what_the_other_commands_need_and_stops_on_sigterm(
    home: Path,
) -> None:
    serve = ["serve", "--port", "0", "--token-lifetime", "120", "--poll-interval", "0.2"]
    secret = "shared-by-the-script-0123456789"
    async with CliProcess(serve, child_env(home, OAUTHFLOW_CLIENT_SECRET=secret)) as server:
        issuer = (await server.wait_for_line(r"issuer (http://127\.0\.0\.1:\d+)$",
                                             stdout=True)).group(1)
        await server.wait_for_line(r"^Ctrl-C stops it\.$", stdout=True)

        service = await invoke(["token", "--client-credentials", "--issuer", issuer,
                                "--client-id", "oauthflow-service"], home,
                               OAUTHFLOW_CLIENT_SECRET=secret)
        assert service.exit_code == 0, service.stderr
        assert service.stdout.count(".") == 2  # a JWT

        async with CliProcess(["login", "--issuer", issuer, "--client-id", "oauthflow-cli",
                               "--scope", "openid offline_access read"],
                              child_env(home)) as login:
            user_code = (await login.wait_for_line(r"one-time code: (\S+)")).group(1)
            async with HeadlessBrowser() as browser:
                await asyncio.wait_for(browser.approve_device(
                    f"{issuer}/device", user_code, "alice", "alice", True), TIMEOUT)
            logged_in = await login.finish()
        assert logged_in.returncode == 0, logged_in.stderr

        called = await invoke(["call", "GET", f"{issuer}/api/hello"], home)
        assert called.exit_code == 0, called.stderr
        assert json.loads(called.stdout)["sub"] == "alice"

        server.process.send_signal(signal.SIGTERM)
        stopped = await server.finish()

    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.endswith("stopped\n")
    assert "oauthflow-cli         public (no secret)" in stopped.stdout
    assert ("oauthflow-service     secret from --client-secret / OAUTHFLOW_CLIENT_SECRET (not "
            "shown): client credentials") in stopped.stdout
    assert secret not in stopped.stdout + stopped.stderr


async def test_a_generated_secret_is_printed_and_works(home: Path) -> None:
    async with CliProcess(["serve"], child_env(home)) as server:
        issuer = (await server.wait_for_line(r"issuer (http://127\.0\.0\.1:\d+)$",
                                             stdout=True)).group(1)
        secret = (await server.wait_for_line(r"oauthflow-service +secret (\S{32}): client",
                                             stdout=True)).group(1)
        example = (await server.wait_for_line(r"^  (oauthflow token --client-credentials .*)$",
                                              stdout=True)).group(1)
        assert example == (f"oauthflow token --client-credentials --issuer {issuer} "
                           f"--client-id oauthflow-service --client-secret {secret}")
        result = await invoke(example.split()[1:], home)
        server.process.send_signal(signal.SIGINT)
        assert (await server.finish()).returncode == 0

    assert result.exit_code == 0, result.stderr


async def test_a_port_in_use_exits_1(home: Path) -> None:
    async with CliProcess(["serve"], child_env(home)) as first:
        port = (await first.wait_for_line(r"issuer http://127\.0\.0\.1:(\d+)$",
                                          stdout=True)).group(1)
        result = await invoke(["serve", "--port", port], home)
        first.process.send_signal(signal.SIGINT)
        assert (await first.finish()).returncode == 0

    assert result.exit_code == 1
    assert result.stderr.startswith(f"oauthflow: cannot listen on 127.0.0.1:{port} (")
    assert result.stderr.endswith("): choose another --port\n")
