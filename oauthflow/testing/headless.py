"""A headless user agent that drives the server's real HTML pages over HTTP.

It does what a person with a browser does: open the authorization URL, fill in the login
form, press Approve or Deny, and stop at the redirect to the client (returning the callback
URL without fetching it). Forms are read from the HTML, so the pages stay usable by a browser.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin

import aiohttp

__all__ = ["HeadlessBrowser", "HeadlessError", "parse_form"]

_TIMEOUT = aiohttp.ClientTimeout(total=10)


class HeadlessError(RuntimeError):
    """The pages did not behave as a person would expect (status and page text kept)."""


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = attributes.get("action", "")
        elif tag == "input" and "name" in attributes:
            self.fields[attributes["name"]] = attributes.get("value", "")


def parse_form(page: str) -> tuple[str, dict[str, str]]:
    """The first form of ``page``: its action and its inputs (with their values)."""
    parser = _FormParser()
    parser.feed(page)
    if parser.action is None:
        raise HeadlessError("no form on the page")
    return parser.action, parser.fields


class HeadlessBrowser:
    """One browsing session (cookies kept; IP-address hosts allowed) against the server."""

    def __init__(self) -> None:
        jar = aiohttp.CookieJar(unsafe=True)
        self._session = aiohttp.ClientSession(cookie_jar=jar, timeout=_TIMEOUT)

    async def __aenter__(self) -> HeadlessBrowser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    async def authorize(self, url: str, username: str, password: str, approve: bool) -> str:
        """GET the authorization URL, log in, decide; the callback URL (``Location``).

        Cancellation closes nothing but the in-flight request; the session is closed by
        ``__aexit__``.
        """
        async with self._session.get(url, allow_redirects=False) as response:
            if response.status == 302:
                return response.headers["Location"]
            page = await self._page(response, 200)
        consent = await self._submit(url, page, {"username": username, "password": password})
        return await self._submit(
            url, consent, {"decision": "approve" if approve else "deny"}, redirect=True
        )

    async def approve_device(self, url: str, user_code: str, username: str, password: str,
                             approve: bool) -> None:
        """Fill in the RFC 8628 verification page at ``url`` for ``user_code``."""
        async with self._session.get(url, params={"user_code": user_code}) as response:
            page = await self._page(response, 200)
        action, fields = parse_form(page)
        fields.update({"username": username, "password": password,
                       "decision": "approve" if approve else "deny"})
        async with self._session.post(urljoin(url, action), data=fields) as response:
            await self._page(response, 200)

    async def _submit(self, base: str, page: str, values: dict[str, str],
                      redirect: bool = False) -> str:
        action, fields = parse_form(page)
        fields.update(values)
        target = urljoin(base, action)
        async with self._session.post(target, data=fields, allow_redirects=False) as response:
            if redirect:
                if response.status != 302:
                    await self._page(response, 302)
                return response.headers["Location"]
            return await self._page(response, 200)

    @staticmethod
    async def _page(response: aiohttp.ClientResponse, expected: int) -> str:
        text = await response.text()
        if response.status != expected:
            raise HeadlessError(f"expected HTTP {expected}, got {response.status}: {text[:300]}")
        return text
