"""Drive oidc-provider's dev-interaction pages over HTTP, the way a person in a browser would.

``authorize`` opens an authorization URL, signs in (devInteractions accepts any login), approves
or denies consent, follows redirects, and returns the redirect to ``redirect_uri`` without
fetching it. ``enter_device_code`` does the same for RFC 8628: the user opens the verification
URI, types the user code, confirms it, signs in and consents.

Pages are read by their forms (HTMLParser), not by hard-coded paths or interaction ids: a login
form has ``prompt=login``, a consent form ``prompt=consent``; the device pages use the form ids
``op.deviceInputForm`` and ``op.deviceConfirmForm``; a form of only hidden fields is the
auto-submitting ``form_post`` page that a browser would submit by script.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

import aiohttp
from yarl import URL

__all__ = [
    "Form",
    "HeadlessFlowError",
    "Page",
    "authorize",
    "enter_device_code",
    "parse_page",
    "redirect_matcher",
]

_MAX_STEPS = 25
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PASSWORD = "any-password"  # devInteractions ignores it; the form requires one


class HeadlessFlowError(Exception):
    """The pages did not lead where expected. Carries the status, path and page title only."""


@dataclass
class Form:
    """One ``<form>``: its id, method, action and the named input fields with their values."""

    id: str | None
    method: str
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    hidden_only: bool = True


@dataclass
class Page:
    """What the driver needs from an HTML page: its title, forms and link targets."""

    title: str = ""
    forms: list[Form] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    def form_with(self, name: str, value: str) -> Form | None:
        """The first form whose field ``name`` holds ``value``."""
        return next((f for f in self.forms if f.fields.get(name) == value), None)

    def form_by_id(self, form_id: str) -> Form | None:
        return next((f for f in self.forms if f.id == form_id), None)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._form: Form | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = Form(
                id=attributes.get("id"),
                method=attributes.get("method", "get").upper(),
                action=attributes.get("action", ""),
            )
            self.page.forms.append(self._form)
        elif tag == "input" and self._form is not None and "name" in attributes:
            self._form.fields[attributes["name"]] = attributes.get("value", "")
            if attributes.get("type", "text").lower() != "hidden":
                self._form.hidden_only = False
        elif tag == "a" and "href" in attributes:
            self.page.links.append(attributes["href"])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.page.title += data.strip()


def parse_page(html: str) -> Page:
    """The title, forms and links of an HTML page."""
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    return parser.page


@dataclass(frozen=True)
class _Request:
    method: str
    url: URL
    data: dict[str, str] | None = None


class _Browser:
    """Follows redirects and submits forms until ``stop_at`` matches or no form is left."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        login: str,
        approve: bool,
        user_code: str | None = None,
        stop_at: Callable[[URL], bool] = lambda _url: False,
    ) -> None:
        self._session = session
        self._login = login
        self._approve = approve
        self._user_code = user_code
        self._stop_at = stop_at
        self._aborted = False

    async def run(self, start: URL) -> URL | Page:
        """The redirect URL that matched ``stop_at``, or the last page (one with no form)."""
        request = _Request("GET", start)
        for _ in range(_MAX_STEPS):
            async with self._session.request(
                request.method, request.url, data=request.data, allow_redirects=False
            ) as response:
                status, text = response.status, await response.text()
                location = response.headers.get("Location")
            if status in _REDIRECTS and location is not None:
                target = request.url.join(URL(location))
                if self._stop_at(target):
                    return target
                request = _Request("GET", target)
                continue
            page = parse_page(text)
            if status >= 400 and not self._aborted:
                raise HeadlessFlowError(f"{status} at {request.url.path}: {page.title!r}")
            following = self._next_request(request.url, page)
            if following is None:
                return page
            request = following
        raise HeadlessFlowError(f"no end after {_MAX_STEPS} pages")

    def _next_request(self, base: URL, page: Page) -> _Request | None:
        if (form := page.form_with("prompt", "login")) is not None:
            data = {**form.fields, "login": self._login, "password": _DEFAULT_PASSWORD}
            return self._submit(base, form, data)
        if (form := page.form_with("prompt", "consent")) is not None:
            if self._approve:
                return self._submit(base, form, form.fields)
            return self._abort_interaction(base, page)
        if self._aborted:
            return None
        if (form := page.form_by_id("op.deviceInputForm")) is not None:
            if self._user_code is None:
                raise HeadlessFlowError("the device page asks for a user code; none was given")
            return self._submit(base, form, {**form.fields, "user_code": self._user_code})
        if (form := page.form_by_id("op.deviceConfirmForm")) is not None:
            if self._approve:
                return self._submit(base, form, form.fields)
            self._aborted = True
            return self._submit(base, form, {**form.fields, "abort": "yes"})
        hidden = [form for form in page.forms if form.hidden_only]
        if len(page.forms) == 1 and hidden:
            return self._submit(base, hidden[0], hidden[0].fields)
        return None

    def _submit(self, base: URL, form: Form, data: dict[str, str]) -> _Request:
        target = base.join(URL(form.action))
        if self._stop_at(target):
            raise HeadlessFlowError("response_mode=form_post is not supported by this driver")
        if form.method == "POST":
            return _Request("POST", target, data)
        return _Request("GET", target.with_query(data))

    def _abort_interaction(self, base: URL, page: Page) -> _Request:
        abort = next((href for href in page.links if href.endswith("/abort")), None)
        if abort is None:
            raise HeadlessFlowError(f"no abort link on {page.title!r}")
        self._aborted = True
        return _Request("GET", base.join(URL(abort)))


def redirect_matcher(redirect_uri: str) -> Callable[[URL], bool]:
    """A predicate: is a URL the redirect to ``redirect_uri`` (any port if it names none)?"""
    expected = URL(redirect_uri)

    def matches(url: URL) -> bool:
        # Loopback redirect URIs match on any port (RFC 8252 section 7.3), so compare without it.
        same_port = expected.explicit_port is None or url.port == expected.port
        return (url.scheme, url.host, url.path) == (
            expected.scheme,
            expected.host,
            expected.path,
        ) and same_port

    return matches


def _new_session() -> aiohttp.ClientSession:
    # unsafe=True: the provider lives at an IP address, and aiohttp's jar drops cookies set by
    # IP hosts by default.
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        timeout=aiohttp.ClientTimeout(total=10),
    )


async def authorize(
    authorization_url: str,
    redirect_uri: str,
    *,
    login: str = "alice",
    approve: bool = True,
    session: aiohttp.ClientSession | None = None,
    timeout: float = 20.0,
) -> str:
    """Signs in as ``login``, approves (or denies) consent; returns the callback URL unfetched.

    Pass ``session`` to keep the provider's session cookie between calls (a second authorization
    then skips the login page); by default each call is a fresh browser. Raises
    HeadlessFlowError when the pages do not end in a redirect to ``redirect_uri``, and
    TimeoutError after ``timeout`` seconds. Cancelling it abandons the pages where they are.
    """

    async def run(browser_session: aiohttp.ClientSession) -> str:
        browser = _Browser(
            browser_session, login=login, approve=approve, stop_at=redirect_matcher(redirect_uri)
        )
        result = await browser.run(URL(authorization_url))
        if isinstance(result, Page):
            raise HeadlessFlowError(f"ended on {result.title!r} before the redirect")
        return str(result)

    if session is not None:
        return await asyncio.wait_for(run(session), timeout)
    async with _new_session() as fresh:
        return await asyncio.wait_for(run(fresh), timeout)


async def enter_device_code(
    verification_uri: str,
    user_code: str,
    *,
    login: str = "alice",
    approve: bool = True,
    session: aiohttp.ClientSession | None = None,
    timeout: float = 20.0,
) -> str:
    """Enters ``user_code`` on the verification page, confirms, signs in and consents.

    With ``approve=False`` the user aborts on the confirmation page, and the device's next poll
    gets ``access_denied``. Returns the title of the last page ("Sign-in Success" on approval).
    Raises HeadlessFlowError on an unexpected page, TimeoutError after ``timeout`` seconds.
    Cancelling it abandons the pages where they are.
    """

    async def run(browser_session: aiohttp.ClientSession) -> str:
        browser = _Browser(browser_session, login=login, approve=approve, user_code=user_code)
        result = await browser.run(URL(verification_uri))
        if not isinstance(result, Page):
            raise HeadlessFlowError(f"unexpected redirect to {result.path}")
        return result.title

    if session is not None:
        return await asyncio.wait_for(run(session), timeout)
    async with _new_session() as fresh:
        return await asyncio.wait_for(run(fresh), timeout)
