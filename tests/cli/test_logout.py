"""``oauthflow logout``: revoke at the provider first, then delete; nothing deleted when the
revocation fails (integration against oauthflow.testing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from oauthflow.testing import AuthorizationServer

from .conftest import PUBLIC, logged_in_directly, profiles_document
from .support import invoke

pytestmark = pytest.mark.asyncio


async def test_logout_revokes_the_refresh_token_then_deletes_everything(
    server: AuthorizationServer, home: Path
) -> None:
    token = await logged_in_directly(server, home, profile="work")
    await logged_in_directly(server, home, profile="other")

    result = await invoke(["logout", "--profile", "work"], home)

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ("Logged out of profile 'work': the refresh token was revoked at "
                             "the provider.\n")
    [revocation] = server.requests_seen("revoke")
    assert revocation.form == {"token": token.refresh_token, "token_type_hint": "refresh_token",
                               "client_id": PUBLIC}
    assert token.refresh_token is not None
    assert server.core.store.tokens_by_refresh[token.refresh_token].refresh_revoked
    assert not (home / "tokens" / "work.json").exists()
    assert list(profiles_document(home)["profiles"]) == ["other"]
    assert (home / "tokens" / "other.json").exists()

    after = await invoke(["token", "--profile", "work"], home)
    assert after.exit_code == 4


async def test_an_unreachable_provider_deletes_nothing(
    server: AuthorizationServer, home: Path
) -> None:
    await logged_in_directly(server, home)
    await server.stop()

    result = await invoke(["logout"], home)

    assert result.exit_code == 5
    assert result.stderr == (
        f"oauthflow: cannot reach {server.revocation_endpoint}: check your network (nothing "
        "was deleted; `oauthflow logout --no-revoke` deletes the login without revoking)\n")
    assert (home / "tokens" / "default.json").exists()
    assert list(profiles_document(home)["profiles"]) == ["default"]

    forced = await invoke(["logout", "--no-revoke"], home)
    assert forced.exit_code == 0, forced.stderr
    assert forced.stderr == ("Logged out of profile 'default': the token was not revoked "
                             "(--no-revoke): it works until it expires.\n")
    assert not (home / "tokens" / "default.json").exists()
    assert profiles_document(home)["profiles"] == {}


async def test_logout_of_an_unknown_profile_exits_4(home: Path) -> None:
    result = await invoke(["logout", "--profile", "nobody"], home)

    assert result.exit_code == 4
    assert "not logged in (no profile 'nobody')" in result.stderr
