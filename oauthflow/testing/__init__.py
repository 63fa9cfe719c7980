"""``oauthflow.testing``: a real local OAuth 2.0 / OpenID Connect server for tests and demos.

::

    from oauthflow.testing import AuthorizationServer

    async with AuthorizationServer() as server:
        server.register_client("svc", "s3cret")
        ...  # point your client at server.issuer / server.token_endpoint

Needs the ``testing`` extra (authlib). See docs/testing.md for the knobs and the pytest
fixtures ``oauth_server`` and ``oauth_server_session``.
"""

from __future__ import annotations

from .headless import HeadlessError
from .knobs import Counters, RecordedRequest, Settings
from .models import RegisteredClient, User
from .pages import AuthorizationRejectedError
from .server import AuthorizationServer

__all__ = [
    "AuthorizationRejectedError",
    "AuthorizationServer",
    "Counters",
    "HeadlessError",
    "RecordedRequest",
    "RegisteredClient",
    "Settings",
    "User",
]
