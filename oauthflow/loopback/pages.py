"""The pages the loopback receiver shows in the browser, and the headers they carry.

Short, static and self-contained: no script, no external resource (the
Content-Security-Policy forbids both), no referrer (the page's URL holds the code), never
the code or the state.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

__all__ = [
    "DEFAULT_FAILURE_PAGE",
    "DEFAULT_SUCCESS_PAGE",
    "GONE_PAGE",
    "NOT_FOUND_PAGE",
    "html_response",
]

_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _page(title: str, text: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:4em auto;max-width:32em;"
        "padding:0 1em;line-height:1.5}</style></head>"
        f"<body><h1>{title}</h1><p>{text}</p></body></html>"
    )


DEFAULT_SUCCESS_PAGE: Final = _page(
    "Signed in", "You can close this tab and return to the application."
)
DEFAULT_FAILURE_PAGE: Final = _page(
    "Sign-in did not complete", "Return to the application for details."
)
GONE_PAGE: Final = _page(
    "This sign-in is over", "Return to the application; start again there if needed."
)
NOT_FOUND_PAGE: Final = _page("Not found", "Nothing here.")


def html_response(
    status: int, page: str, headers: dict[str, str] | None = None
) -> web.Response:
    """``page`` as an HTML response with the security headers, closing the connection."""
    response = web.Response(
        status=status, text=page, content_type="text/html", charset="utf-8",
        headers={**_HEADERS, **(headers or {})},
    )
    response.force_close()  # no keep-alive: the receiver is about to go away
    return response
