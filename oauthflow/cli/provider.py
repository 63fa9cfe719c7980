"""Finding the provider's endpoints for the command line: discovery, with errors that name the
issuer actually used (it may come from a stored profile rather than from a flag).

Spec: OpenID Connect Discovery 1.0 §4, RFC 8414 §3 (see :mod:`oauthflow.oidc.discovery`).
"""

from __future__ import annotations

from oauthflow.cli.exit_codes import Hints, explain
from oauthflow.config import ServerMetadata
from oauthflow.errors import OAuthFlowError
from oauthflow.oidc import discover
from oauthflow.transport import Transport

__all__ = ["discover_provider"]


async def discover_provider(transport: Transport, issuer: str, *, insecure_http: bool,
                            hints: Hints) -> ServerMetadata:
    """The metadata of ``issuer``, or a :class:`CliError` saying what to check.

    Raises:
        CliError: exit code 2 (a bad issuer URL), 5 (unreachable), 6 (no document, or one
            for another issuer).

    Cancellation: cancelling abandons the request in flight.
    """
    try:
        return await discover(transport, issuer, allow_insecure_http=insecure_http)
    except OAuthFlowError as exc:
        raise explain(exc, hints) from exc
