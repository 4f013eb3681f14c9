"""The web edge of sign-in: Gradio's login check, and who may fetch which file.

Gradio calls the login check with the user name and password only. `AccessMiddleware` (an
ASGI middleware handed to the app through `launch(app_kwargs=...)`) keeps each request's
address and user agent in a context variable, so failed and successful sign-ins are logged
with them. With sign-in on, it also refuses a download copy (`dl-u<id>-...` folders, see
`tabs.common`) to anyone but the user it was made for, and a file someone uploaded (Gradio keeps
each in a folder named by a digest of its content) to anyone but who uploaded it: fetched by URL,
or named as an input in the JSON of an API call or UI event. With Hugging Face sign-in it also
turns Gradio's OAuth callback into a studio account and shows visitors without a session a page
to sign in (`tabs.hf_oauth`).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import HTTPException
from gradio.utils import get_upload_folder
from starlette.middleware import Middleware
from starlette.requests import Request

from tabs import hf_oauth

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestMeta:
    ip: str = ""
    user_agent: str = ""


_REQUEST: contextvars.ContextVar[RequestMeta | None] = contextvars.ContextVar("studio_request", default=None)

# A download copy's folder names the user it was made for: dl-u<user id>-<random>.
COPY_FOLDER = re.compile(r"^dl-u(\d+)-")
# The same, anywhere in a text (the random part is 16 bytes in URL-safe base64).
COPY_NAME = re.compile(r"dl-u(\d+)-[A-Za-z0-9_-]{22}")
_FILE_ROUTE = re.compile(r"/file[=/](.+)$")
# Gradio's upload route, and the folder it keeps an upload in: a 64-hex digest of the content.
_UPLOAD_ROUTE = re.compile(r"/upload$")
UPLOAD_NAME = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
# Upload folders remembered with who uploaded them; past this many, those Gradio has deleted are forgotten.
MAX_UPLOADS_KEPT = 50_000
# How often the access middleware reads which accounts are disabled, in seconds.
DISABLED_TTL_S = 2.0


def login_check(services) -> Callable[[str, str], Awaitable[bool]]:
    """Gradio's `auth=`: the account's password, checked off the event loop; after repeated
    failures a 429 "try again in N s" (Gradio's login route passes the HTTPException on)."""

    async def check(username: str, password: str) -> bool:
        meta = _REQUEST.get() or RequestMeta()
        result = await asyncio.to_thread(services.accounts.sign_in, username, password, meta.ip, meta.user_agent)
        if result.wait_s > 0 and not result.ok:
            wait = math.ceil(result.wait_s)
            raise HTTPException(status_code=429, headers={"Retry-After": str(wait)},
                                detail=f"Too many failed sign-ins; try again in {wait} s.")
        return result.ok

    return check


def _session_token(scope: dict) -> tuple[str, str, dict] | None:
    """(token, user name, Gradio's token table) of a request with a valid session cookie."""
    app = scope.get("app")
    tokens = getattr(app, "tokens", None)
    cookie_id = getattr(app, "cookie_id", None)
    if not tokens or not cookie_id:
        return None
    cookies = Request(scope).cookies
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    username = tokens.get(token) if token else None
    return (token, username, tokens) if username else None


def _username(scope: dict) -> str | None:
    """The signed-in user of a request, from Gradio's session cookie."""
    session = _session_token(scope)
    return session[1] if session else None


def _top_folder(path: str | Path) -> str | None:
    """The folder right under Gradio's upload folder that holds `path` (None: outside it)."""
    try:
        rel = Path(path).resolve().relative_to(Path(get_upload_folder()).resolve())
    except (ValueError, OSError):
        return None
    return rel.parts[0] if rel.parts else None


def copy_owner(path: str | Path) -> int | None:
    """The user id a download copy was made for (None: not a download copy)."""
    folder = _top_folder(path)
    m = COPY_FOLDER.match(folder) if folder else None
    return int(m.group(1)) if m else None


class AccessMiddleware:
    """Pure ASGI: remembers the request's address and user agent; refuses another user's download
    copy or upload."""

    def __init__(self, app, services) -> None:
        self.app, self.services = app, services
        self._disabled: set[str] = set()
        self._disabled_at = float("-inf")
        # Upload folder -> ids of the users who uploaded it (the same content lands in one folder).
        # Kept in memory: uploads from before a restart are served as Gradio serves them.
        self._uploads: dict[str, set[int]] = {}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        client = scope.get("client")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        meta = RequestMeta(client[0] if client else "", headers.get("user-agent", "")[:512])
        token = _REQUEST.set(meta)
        try:
            if self.services.sign_in_mode == "huggingface":
                path, method = scope.get("path", ""), scope.get("method")
                if path == hf_oauth.CALLBACK_PATH:
                    return await hf_oauth.callback(self.app, scope, receive, send, self.services, meta.ip,
                                                   meta.user_agent)
                if path == "/" and method in ("GET", "HEAD") and await self._user(scope) is None:
                    from tabs import TITLE

                    return await hf_oauth.sign_in_page(scope, send, TITLE)
            elif self.services.sign_in:
                await self._end_disabled_session(scope)
            if self.services.sign_in and scope.get("method") in ("GET", "HEAD") and not await self._may_fetch(scope):
                # The same answer Gradio gives for a file that does not exist.
                m = _FILE_ROUTE.search(scope.get("path", ""))
                return await _answer(send, 403, f"File not allowed: {m.group(1) if m else ''}.")
            if self.services.sign_in and scope.get("method") == "POST" and _CALL_ROUTE.search(scope.get("path", "")):
                body = await _read_body(receive, MAX_CALL_BODY)
                if body is None:
                    return await _answer(send, 413, "The request is too large; upload files first.")
                bad = await self._foreign_copy(scope, body)
                if bad:
                    return await _answer(send, 403, f"File not allowed: {bad}.")
                receive = _replay(body, receive)
            if self.services.sign_in and scope.get("method") == "POST" and _UPLOAD_ROUTE.search(scope.get("path", "")):
                send = await self._noting_uploads(scope, send)
            await self.app(scope, receive, send)
        finally:
            _REQUEST.reset(token)

    async def _user(self, scope: dict) -> str | None:
        """The signed-in account of a request: from the Hugging Face session, or Gradio's token."""
        if self.services.sign_in_mode == "huggingface":
            return await hf_oauth.session_username(scope, self.services)
        return _username(scope)

    async def _account(self, scope: dict):
        """The signed-in user's account row, or None."""
        username = await self._user(scope)
        return await asyncio.to_thread(self.services.accounts.get, username) if username else None

    async def _noting_uploads(self, scope: dict, send: Any) -> Callable[[dict], Awaitable[None]]:
        """`send`, noting the folders of the files Gradio answers it stored, as the signed-in user's."""
        user = await self._account(scope)
        status, chunks = 0, []

        async def noting(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200 and user is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    self._note_uploads(b"".join(chunks), user.id)
            await send(message)

        return noting

    def _note_uploads(self, body: bytes, user_id: int) -> None:
        try:
            paths = json.loads(body)
        except ValueError:
            return
        folders = {_top_folder(p) for p in paths if isinstance(p, str)} if isinstance(paths, list) else set()
        for folder in folders - {None}:
            self._uploads.setdefault(folder, set()).add(user_id)
        if len(self._uploads) > MAX_UPLOADS_KEPT:
            root = Path(get_upload_folder())
            self._uploads = {f: ids for f, ids in self._uploads.items() if (root / f).exists()}

    def _uploaders(self, path: str) -> set[int] | None:
        """Who uploaded the file at `path` (None: not an upload this process took)."""
        folder = _top_folder(path)
        return self._uploads.get(folder) if folder else None

    async def _end_disabled_session(self, scope: dict) -> None:
        """A disabled account's session token is dropped, so Gradio answers its requests as it does
        for someone signed out (the login page, 401 for calls). The set of disabled accounts is read
        at most every DISABLED_TTL_S seconds; a hit is confirmed in the database, so an account
        enabled again signs in at once."""
        session = _session_token(scope)
        if session is None:
            return
        now = time.monotonic()
        if now - self._disabled_at > DISABLED_TTL_S:
            self._disabled = await asyncio.to_thread(self.services.accounts.disabled_usernames)
            self._disabled_at = now
        token, username, tokens = session
        if username in self._disabled:
            user = await asyncio.to_thread(self.services.accounts.get, username)  # enabled again since?
            if user is None or user.disabled:
                tokens.pop(token, None)
                log.info("session of disabled account %r ended", username)
            else:
                self._disabled.discard(username)

    async def _foreign_copy(self, scope: dict, body: bytes) -> str | None:
        """A download copy or upload of another user's that a call names as an input (UI events pass
        file paths in their JSON), or None."""
        text = body.decode("utf-8", "replace")
        owners = {m.group(0): {int(m.group(1))} for m in COPY_NAME.finditer(text)}
        owners |= {m.group(0): self._uploads[m.group(0)] for m in UPLOAD_NAME.finditer(text)
                   if m.group(0) in self._uploads}
        if not owners:
            return None
        user = await self._account(scope)
        return next((folder for folder, ids in owners.items() if user is None or user.id not in ids), None)

    async def _may_fetch(self, scope: dict) -> bool:
        m = _FILE_ROUTE.search(scope.get("path", ""))
        if not m:
            return True
        path = unquote(m.group(1))
        owner = copy_owner(path)
        allowed = {owner} if owner is not None else self._uploaders(path)
        if allowed is None:
            return True  # neither a download copy nor an upload: Gradio's own checks answer
        user = await self._account(scope)
        if user is None:
            return True  # no session: Gradio's own checks answer
        return not user.disabled and user.id in allowed


# Calls that run a function (API and UI events): their JSON may name files by path.
_CALL_ROUTE = re.compile(r"/(queue/join|call/|run/|api/)")
# Such a body is small (files are uploaded separately); larger ones are refused.
MAX_CALL_BODY = 8 * 1024 * 1024


async def _read_body(receive: Any, limit: int) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return None
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Callable[[], Awaitable[dict]]:
    """The body already read, then the connection's own messages (a disconnect, in time)."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def middleware(services) -> list[Middleware]:
    """For `launch(app_kwargs={"middleware": ...})`."""
    return [Middleware(AccessMiddleware, services=services)]
