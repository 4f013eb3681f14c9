"""The web edge of Hugging Face sign-in (SIGN_IN=huggingface, in a Space with `hf_oauth: true`).

Gradio does the OAuth itself: a `gr.LoginButton` on the page makes it add /login/huggingface,
/login/callback and /logout, and keep the OpenID claims in a signed session cookie
(`request.session["oauth_info"]`). This module turns that into a studio account:

- `callback` wraps /login/callback: once Gradio has stored a new sign-in in the session, the account
  is found or made (`Accounts.hf_sign_in`, logged with the address and user agent) and the session is
  marked with whose it is and since when. A disabled account's sign-in is emptied from the session.
- `session_user` is Gradio's `auth_dependency`: the account name of a request with a marked, unexpired
  session whose account is enabled and was not signed out since; None for anyone else, which Gradio
  answers with 401 on every page, API call, upload and file.
- `sign_in_page` is what a visitor without a session gets at "/": a link to sign in.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import gradio as gr
from fastapi import Request

from core.errors import InputError
from storage.accounts import HFProfile
from storage.library import Actor

log = logging.getLogger(__name__)

# Session keys (the cookie is signed with a key derived from the Space's OAuth secret, so they are
# trusted): whose sign-in the session holds and when it was checked, and a refusal to show once.
MARK = "studio_sign_in"
REFUSED = "studio_refused"
CALLBACK_PATH = "/login/callback"
# Why an admin cannot make accounts with Hugging Face sign-in.
NO_NEW_ACCOUNTS = ("With Hugging Face sign-in an account is made when its person first signs in; "
                   "a password account could not sign in.")


def login_button() -> gr.LoginButton:
    """The sign-in / sign-out button. Refuses to exist outside a Space with OAuth: there, Gradio would
    sign every visitor in as the machine's own Hugging Face account."""
    from gradio import oauth
    from gradio.utils import get_space

    if get_space() is None or not (oauth.OAUTH_CLIENT_ID and oauth.OAUTH_CLIENT_SECRET and oauth.OPENID_PROVIDER_URL):
        raise SystemExit("Hugging Face sign-in needs a Space with `hf_oauth: true` (SYSTEM=spaces, SPACE_ID, "
                         "OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OPENID_PROVIDER_URL)")
    return gr.LoginButton("Sign in with Hugging Face", logout_value="Sign out ({})", size="sm", elem_id="hf-login",
                          scale=0, min_width=200)


def _valid_oauth_info(session: MutableMapping[str, Any] | None) -> dict | None:
    """The OpenID sign-in a session holds, unless it has expired (then it is dropped)."""
    info = session.get("oauth_info") if session is not None else None
    if not isinstance(info, dict):
        return None
    expires_at = info.get("expires_at")
    if expires_at is not None and float(expires_at) < time.time():
        session.pop("oauth_info", None)
        return None
    return info


def _claims(info: dict) -> HFProfile:
    claims = info.get("userinfo") or {}
    return HFProfile(sub=str(claims.get("sub") or ""), username=str(claims.get("preferred_username") or ""),
                     name=str(claims.get("name") or ""))


async def session_username(scope: dict, services) -> str | None:
    """The studio account name of a request (see the module's docstring), or None. A session that
    cannot be used any more (account disabled, gone, or signed out since) is emptied."""
    session = scope.get("session")
    info = _valid_oauth_info(session)
    mark = session.get(MARK) if session is not None else None
    if info is None or not isinstance(mark, dict):
        return None
    sub = _claims(info).sub
    if not sub or mark.get("sub") != sub:
        return None
    try:
        since = datetime.fromtimestamp(float(mark.get("at")), UTC)
    except (TypeError, ValueError):
        return None
    user = await asyncio.to_thread(services.accounts.hf_session_user, sub, since)
    if user is None:
        session.pop("oauth_info", None)
        session.pop(MARK, None)
        return None
    return user.username


def session_user(services) -> Callable[[Request], Any]:
    """Gradio's `auth_dependency` for launch(): a request's account name, or None (refused)."""

    async def user(request: Request) -> str | None:
        return await session_username(request.scope, services)

    return user


async def callback(app, scope: dict, receive: Any, send: Any, services, ip: str, user_agent: str) -> None:
    """Run Gradio's /login/callback; when it has stored a new sign-in in the session, sign the person
    in to their studio account before the session cookie is written (the session middleware sits
    outside this one). When the callback fails (a token the provider did not sign, a lost state, our
    own error), nobody is signed in: the visitor goes back to the sign-in page with the reason, and
    the failure is logged."""
    session = scope.get("session")
    if session is None:
        return await app(scope, receive, send)
    before = session.get("oauth_info")
    session.pop(MARK, None)  # whatever happens next, an earlier mark does not carry over
    started = False

    async def send_signed_in(message: dict) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            info = session.get("oauth_info")
            if isinstance(info, dict) and info is not before:
                await _signed_in(session, _claims(info), services, ip, user_agent)
        await send(message)
        started = True

    try:
        await app(scope, receive, send_signed_in)
    except Exception as e:
        if started:
            raise
        log.warning("Hugging Face sign-in failed: %s: %s", type(e).__name__, e)
        session.pop("oauth_info", None)
        session[REFUSED] = "The sign-in with Hugging Face did not complete; please try again."
        await asyncio.to_thread(services.library.log_event, "login_failed", Actor(ip=ip, user_agent=user_agent),
                                reason="Hugging Face sign-in did not complete", error=type(e).__name__)
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", b"/"), (b"content-length", b"0"), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b""})


async def _signed_in(session: MutableMapping[str, Any], profile: HFProfile, services, ip: str,
                     user_agent: str) -> None:
    try:
        result = await asyncio.to_thread(services.accounts.hf_sign_in, profile, services.settings.admin_names,
                                         ip, user_agent)
    except InputError as e:
        log.warning("Hugging Face sign-in refused: %s", e)
        result = None
    if result is not None and result.ok:
        session[MARK] = {"sub": profile.sub, "at": time.time()}
        session.pop(REFUSED, None)
        return
    session.pop("oauth_info", None)
    session[REFUSED] = (f"The account of Hugging Face user {profile.username!r} is disabled here; an admin can "
                        "enable it again." if result is not None else "This Hugging Face sign-in named no user.")


SIGN_IN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}: sign in</title>
<style>
body {{ margin: 0; min-height: 100vh; display: grid; place-items: center; background: #0e0d0b; color: #e7e5e4;
        font: 16px/1.5 ui-sans-serif, system-ui, sans-serif; }}
main {{ max-width: 32rem; padding: 2rem; text-align: center; }}
h1 {{ color: #d4af37; }}
a.button {{ display: inline-block; margin-top: 1rem; padding: .7rem 1.4rem; border-radius: .5rem; background: #c9a227;
            color: #14110a; font-weight: 600; text-decoration: none; }}
a.button:hover {{ background: #e0b93a; }}
p.refused {{ color: #fca5a5; }}
</style></head>
<body><main>
<h1>{title}</h1>
<p>Sign in with your Hugging Face account to keep your projects and voices to yourself.</p>
{refused}
<a class="button" id="hf-sign-in" href="login/huggingface?_target_url=/">Sign in with Hugging Face</a>
</main></body></html>
"""


async def sign_in_page(scope: dict, send: Any, title: str) -> None:
    """The page "/" shows a visitor without a session (a refused sign-in's reason once)."""
    session = scope.get("session")
    refused = session.pop(REFUSED, None) if session is not None else None
    note = f'<p class="refused" id="refused">{html.escape(str(refused))}</p>' if refused else ""
    body = SIGN_IN_PAGE.format(title=html.escape(title), refused=note).encode()
    headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})

