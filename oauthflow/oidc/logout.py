"""RP-Initiated Logout: the URL that signs the user out at the provider.

Spec: OpenID Connect RP-Initiated Logout 1.0 §2 ("the RP requests that the OP log out
the End-User by redirecting the End-User's User Agent to the OP's Logout Endpoint") and
§3 (redirection to the RP after logout). Parameters used here: ``id_token_hint``
(RECOMMENDED), ``client_id`` (OPTIONAL), ``post_logout_redirect_uri`` (OPTIONAL; "The
value MUST have been previously registered with the OP"), ``state`` (OPTIONAL, passed back
to the RP), ``logout_hint`` and ``ui_locales`` (OPTIONAL).

§2: "When both client_id and id_token_hint are present, the OP MUST verify that the Client
Identifier matches the one used when issuing the ID Token." And "If a post_logout_redirect_uri
is supplied, the OP needs to be able to identify the RP": with a redirect target, either
``id_token_hint`` or ``client_id`` is required here.

The URL carries the ID token: send it as a redirect to the user's browser; do not log it.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode, urlsplit, urlunsplit

from oauthflow.config import ServerMetadata
from oauthflow.errors import ConfigurationError

__all__ = ["build_logout_url"]


def build_logout_url(
    server: ServerMetadata,
    *,
    id_token_hint: str | None,
    post_logout_redirect_uri: str | None = None,
    state: str | None = None,
    client_id: str | None = None,
    logout_hint: str | None = None,
    ui_locales: Sequence[str] = (),
) -> str:
    """The ``end_session_endpoint`` URL with the logout parameters in its query.

    Args:
        server: provider metadata with ``end_session_endpoint``.
        id_token_hint: the ID token of the session (``token.id_token``); pass ``None``
            explicitly to log out without it.
        post_logout_redirect_uri: where the provider sends the browser afterwards (must
            be registered there).
        state: returned to ``post_logout_redirect_uri`` unchanged.
        client_id: the client's identifier (lets the provider identify the client
            without ``id_token_hint``).
        logout_hint: a hint about the user (e.g. an e-mail address).
        ui_locales: preferred languages for the provider's logout pages.

    Raises:
        ConfigurationError: no ``end_session_endpoint``; a redirect target that is not an
            absolute URI or has a fragment; a redirect target with neither
            ``id_token_hint`` nor ``client_id``; ``state`` without a redirect target.
    """
    endpoint = server.end_session_endpoint
    if not endpoint:
        raise ConfigurationError(
            "the server metadata has no end_session_endpoint (RP-Initiated Logout unsupported)"
        )
    if post_logout_redirect_uri is not None:
        _check_redirect(post_logout_redirect_uri)
        if not id_token_hint and not client_id:
            raise ConfigurationError(
                "post_logout_redirect_uri needs id_token_hint or client_id, so the provider "
                "can find the client it is registered for"
            )
    elif state is not None:
        raise ConfigurationError("state is returned to post_logout_redirect_uri: give one")
    members = [
        (name, value) for name, value in (
            ("id_token_hint", id_token_hint),
            ("client_id", client_id),
            ("post_logout_redirect_uri", post_logout_redirect_uri),
            ("state", state),
            ("logout_hint", logout_hint),
            ("ui_locales", " ".join(ui_locales) or None),
        ) if value
    ]
    return _with_query(endpoint, members)


def _check_redirect(uri: str) -> None:
    """§3: "post_logout_redirect_uri ... URI to which the RP is requesting that the
    End-User's User Agent be redirected after a logout has been performed." An absolute
    URI without a fragment, as for redirect URIs (RFC 6749 §3.1.2)."""
    parts = urlsplit(uri)
    if not parts.scheme or not (parts.netloc or parts.scheme not in {"http", "https"}):
        raise ConfigurationError("post_logout_redirect_uri must be an absolute URI")
    if parts.fragment:
        raise ConfigurationError("post_logout_redirect_uri must not have a fragment")


def _with_query(endpoint: str, members: list[tuple[str, str]]) -> str:
    """Append ``members`` to the endpoint's own query (which is kept)."""
    parts = urlsplit(endpoint)
    query = urlencode(members)
    if parts.query:
        query = f"{parts.query}&{query}" if query else parts.query
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
