"""Who may read the status page (SPEC §13): the web token, as a header for scripts or a sign-in cookie for browsers.

With ``web.token`` set, every path but ``/healthz`` and the sign-in form
needs one of:

- ``Authorization: Bearer <token>``, the scheme word in any case
  (Prometheus, curl, scripts);
- the cookie ``POST /signin`` sets when given the token: an HMAC of the
  token, never the token, so it is worthless once the token changes and
  gives nothing away; ``HttpOnly``, ``SameSite=Strict``, and ``Secure``
  when the request came over https (``wsgi.url_scheme``, which waitress
  takes from the X-Forwarded-Proto of ``web.trusted_proxy`` alone). Each page
  read renews it for ``COOKIE_AGE``; ``POST /signout`` clears it.

A browser without either gets the sign-in form (status 401); anything else
gets one plain sentence. Forgery from another site: the session cookie is
``SameSite=Strict``, so no other site makes a browser send it, and the two
forms carry a value that must equal a ``SameSite=Strict`` cookie of their
own (double submit) and are refused when the browser says the request comes
from another site (``Sec-Fetch-Site``). Secrets are compared as HMACs of one
length with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

from .templating import environment
from .web import WSGIApp, html_headers
from .websettings import WebSettings

SESSION = "feeds_session"
CSRF = "feeds_csrf"
#: seconds a browser keeps the cookies after the last page it read (a page read renews them)
COOKIE_AGE = 30 * 24 * 3600
#: a sign-in form is a few hundred bytes; a longer body is not read
_FORM_LIMIT = 4096
_WRONG = "That is not the web token; check web.token (or FEEDS_WEB_TOKEN) and try again."
_FORGED = "This form is out of date or was sent from another site; it was not used. Sign in here."


def _digest(token: str) -> str:
    return hmac.new(token.encode("utf-8"), b"feeds status page session", hashlib.sha256).hexdigest()


def guarded(app: WSGIApp, web: WebSettings) -> WSGIApp:
    """``app`` behind the token when ``web.token`` is set (and the sign-in form, which then has nothing to do)."""
    token = web.token.get_secret_value()
    return _Guard(app, _digest(token)) if token else _Open(app)


class _Open:
    """No token: everything is open; the sign-in paths lead to the page."""

    def __init__(self, app: WSGIApp):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in ("/signin", "/signout"):
            return _redirect(start_response, "/")
        return self.app(environ, start_response)


class _Guard:
    def __init__(self, app: WSGIApp, session: str):
        self.app = app
        self.session = session

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/healthz":
            return self.app(environ, start_response)
        if path == "/signin":
            return self._signin(environ, start_response)
        if path == "/signout":
            return self._signout(environ, start_response)
        if self._bearer(environ):
            return self.app(environ, start_response)
        cookies = _cookies(environ)
        if self._matches(cookies.get(SESSION, "")):
            csrf = cookies.get(CSRF) or secrets.token_urlsafe(24)
            environ["feeds.signout"] = csrf  # the page shows a sign-out button carrying it
            renew = [_cookie(environ, SESSION, self.session), _cookie(environ, CSRF, csrf)]
            return self.app(environ, lambda status, headers, *exc: start_response(status, headers + renew, *exc))
        if path == "/metrics" or "text/html" not in environ.get("HTTP_ACCEPT", ""):
            body = b"a bearer token is needed (Authorization: Bearer <web.token>)\n"
            start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                ("WWW-Authenticate", 'Bearer realm="feeds"'),
                                                ("Content-Length", str(len(body)))])
            return [body]
        query = environ.get("QUERY_STRING", "")
        return _form(environ, start_response, "401 Unauthorized", "", path + (f"?{query}" if query else ""))

    def _matches(self, digest: str) -> bool:
        return hmac.compare_digest(digest.encode("ascii", "replace"), self.session.encode())

    def _bearer(self, environ: dict[str, Any]) -> bool:
        scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        return scheme.lower() == "bearer" and self._matches(_digest(given.strip()))

    def _signin(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method != "POST":
            if self._matches(_cookies(environ).get(SESSION, "")):
                return _redirect(start_response, "/")
            return _form(environ, start_response, "200 OK", "", "/")
        fields = _posted(environ)
        goal = _local(fields.get("next", "/"))
        if not _same_site(environ, fields):
            return _form(environ, start_response, "403 Forbidden", _FORGED, goal)
        if not self._matches(_digest(fields.get("token", "").strip())):
            return _form(environ, start_response, "401 Unauthorized", _WRONG, goal)
        return _redirect(start_response, goal, [_cookie(environ, SESSION, self.session),
                                                _cookie(environ, CSRF, _cookies(environ)[CSRF])])

    def _signout(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _redirect(start_response, "/")
        if not _same_site(environ, _posted(environ)):
            return _form(environ, start_response, "403 Forbidden", _FORGED, "/")
        return _redirect(start_response, "/signin", [_cookie(environ, SESSION, "", age=0)])


def _form(environ: dict[str, Any], start_response: Any, status: str, message: str, goal: str) -> list[bytes]:
    """The sign-in page, with a fresh CSRF value (cookie and field) when the browser has none."""
    csrf = _cookies(environ).get(CSRF) or secrets.token_urlsafe(24)
    body = environment().get_template("signin.html.j2").render(message=message, next=goal, csrf=csrf).encode("utf-8")
    headers = html_headers(len(body)) + [_cookie(environ, CSRF, csrf), ("Cache-Control", "no-store")]
    if status.startswith("401"):
        headers.append(("WWW-Authenticate", 'Bearer realm="feeds"'))
    start_response(status, headers)
    return [body]


def _redirect(start_response: Any, location: str, cookies: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response("303 See Other", [("Location", location), ("Content-Length", "0"), *(cookies or [])])
    return []


def _cookie(environ: dict[str, Any], name: str, value: str, age: int = COOKIE_AGE) -> tuple[str, str]:
    secure = "; Secure" if environ.get("wsgi.url_scheme") == "https" else ""
    return ("Set-Cookie", f"{name}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Strict{secure}")


def _cookies(environ: dict[str, Any]) -> dict[str, str]:
    found = {}
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        name, _, value = part.strip().partition("=")
        found.setdefault(name, value)
    return found


def _posted(environ: dict[str, Any]) -> dict[str, str]:
    """A form's fields (the first value of each); an over-long or unreadable body is no fields."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return {}
    if not 0 < length <= _FORM_LIMIT:
        return {}
    body = environ["wsgi.input"].read(length).decode("utf-8", "replace")
    return {key: values[0] for key, values in parse_qs(body).items()}


def _same_site(environ: dict[str, Any], fields: dict[str, str]) -> bool:
    """The form came from this site: the browser says so (or says nothing) and it carries the CSRF cookie's value."""
    if environ.get("HTTP_SEC_FETCH_SITE", "same-origin") not in ("same-origin", "none"):
        return False
    cookie, field = _cookies(environ).get(CSRF, ""), fields.get("csrf", "")
    return bool(cookie) and hmac.compare_digest(cookie.encode("ascii", "replace"), field.encode("ascii", "replace"))


def _local(goal: str) -> str:
    """Where to go after signing in: a path of this site, never another site (``//evil.example``)."""
    if not goal.startswith("/") or goal.startswith(("//", "/\\")) or any(ord(c) < 32 for c in goal):
        return "/"
    return goal

