"""Loopback login for command-line and desktop apps (RFC 8252 §7.3, §8.3).

:class:`LoopbackReceiver` listens on 127.0.0.1 (and ::1) for the browser's redirect back
from the authorization server; :func:`open_browser` opens the authorization URL.
"""

from oauthflow.loopback.browser import open_browser
from oauthflow.loopback.pages import DEFAULT_FAILURE_PAGE, DEFAULT_SUCCESS_PAGE
from oauthflow.loopback.receiver import LoopbackReceiver, LoopbackStats

__all__ = [
    "DEFAULT_FAILURE_PAGE",
    "DEFAULT_SUCCESS_PAGE",
    "LoopbackReceiver",
    "LoopbackStats",
    "open_browser",
]
