"""A small, real OpenID Connect provider for tests: it stands in for huggingface.co's OAuth, so
Gradio's real OAuth routes (authlib) run against it on 127.0.0.1, with no network.

It serves what a Space's app reads: discovery (/.well-known/openid-configuration), the
authorization endpoint (redirects back to the app with a one-time code and the app's state), the
token endpoint (checks the client secret, the code and the redirect URI; answers an access token and
an RS256-signed id_token carrying the app's nonce and Hugging Face's claims), userinfo and the JWKS.
The signing key is made when the provider starts.

People sign in at the provider as at huggingface.co: `provider.sign_in(client, "ada")` gives that
HTTP client a provider session (a browser posts `username` to /signin), and its next authorization
is answered for ada.

    provider = OpenIDProvider(client_id="studio", client_secret="s3cret")
    provider.add_user("ada", sub="60a1...")
    app = AppProcess(data_dir, port, env=provider.space_env(ADMIN_USERS="ada"))
    ...
    provider.stop()
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Route

SESSION_COOKIE = "provider_session"  # not "session": that is the app's cookie on the same host


@dataclass
class ProviderUser:
    sub: str
    username: str
    name: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class OpenIDProvider:
    def __init__(self, client_id: str, client_secret: str, token_lifetime_s: int = 3600) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.token_lifetime_s = token_lifetime_s
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "alg": "RS256", "use": "sig"})
        # The key id_tokens are signed with; a test may swap in a key the JWKS does not publish.
        self.signing_key = self.key
        self.users: dict[str, ProviderUser] = {}  # by user name at the provider
        self._sessions: dict[str, str] = {}  # provider session cookie -> sub
        self._codes: dict[str, dict] = {}
        self._tokens: dict[str, str] = {}  # access token -> sub
        self.token_requests = 0
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.port, self.url = port, f"http://127.0.0.1:{port}"
        app = Starlette(routes=[
            Route("/.well-known/openid-configuration", self._discovery),
            Route("/signin", self._signin, methods=["POST"]),
            Route("/oauth/authorize", self._authorize),
            Route("/oauth/token", self._token, methods=["POST"]),
            Route("/oauth/userinfo", self._userinfo),
            Route("/oauth/jwks", self._jwks),
        ])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, name="openid-provider", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test OpenID provider did not start")
            time.sleep(0.02)

    def space_env(self, **extra: str) -> dict[str, str]:
        """The environment of a Space with `hf_oauth: true` whose OAuth is this provider (for AppProcess).
        SPACE_HOST stays unset: it would make Gradio send the provider an https:// redirect URI."""
        return {"SYSTEM": "spaces", "SPACE_ID": "tests/studio", "OAUTH_CLIENT_ID": self.client_id,
                "OAUTH_CLIENT_SECRET": self.client_secret, "OAUTH_SCOPES": "openid profile",
                "OPENID_PROVIDER_URL": self.url, **extra}

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    # ------------------------------------------------------------ for tests

    def add_user(self, username: str, sub: str | None = None, name: str = "") -> ProviderUser:
        user = ProviderUser(sub or secrets.token_hex(12), username, name or username.title())
        self.users[username] = user
        return user

    def rename(self, old: str, new: str) -> ProviderUser:
        """A user renamed on the provider: same subject, new user name."""
        user = self.users.pop(old)
        user.username = new
        self.users[new] = user
        return user

    def sign_in(self, client: httpx.Client, username: str) -> None:
        """`client` signs in at the provider as `username` (a session cookie, as at huggingface.co)."""
        r = client.post(f"{self.url}/signin", data={"username": username})
        r.raise_for_status()

    def _user_by_sub(self, sub: str) -> ProviderUser | None:
        return next((u for u in self.users.values() if u.sub == sub), None)

    def _claims(self, user: ProviderUser) -> dict:
        return {"sub": user.sub, "name": user.name, "preferred_username": user.username,
                "profile": f"https://huggingface.co/{user.username}",
                "picture": f"https://huggingface.co/avatars/{user.sub}.svg"}

    # ------------------------------------------------------------ endpoints

    async def _discovery(self, request: Request) -> JSONResponse:
        return JSONResponse({
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/oauth/authorize",
            "token_endpoint": f"{self.url}/oauth/token",
            "userinfo_endpoint": f"{self.url}/oauth/userinfo",
            "jwks_uri": f"{self.url}/oauth/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_supported": ["sub", "name", "preferred_username", "profile", "picture"],
        })

    async def _signin(self, request: Request) -> PlainTextResponse:
        form = await request.form()
        user = self.users.get(str(form.get("username")))
        if user is None:
            return PlainTextResponse("no such user", status_code=404)
        cookie = secrets.token_urlsafe(16)
        self._sessions[cookie] = user.sub
        response = PlainTextResponse("signed in")
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True)
        return response

    async def _authorize(self, request: Request):
        q = request.query_params
        if q.get("client_id") != self.client_id:
            return PlainTextResponse("unknown client", status_code=400)
        if q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
            return PlainTextResponse("an OpenID code request is expected", status_code=400)
        redirect_uri, state = q.get("redirect_uri"), q.get("state")
        if not redirect_uri or not state:
            return PlainTextResponse("redirect_uri and state are required", status_code=400)
        sub = self._sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if sub is None or self._user_by_sub(sub) is None:
            return PlainTextResponse("sign in at the provider first", status_code=401)
        code = secrets.token_urlsafe(24)
        self._codes[code] = {"sub": sub, "nonce": q.get("nonce"), "redirect_uri": redirect_uri,
                             "scope": q.get("scope"), "at": time.time()}
        sep = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{sep}{urlencode({'code': code, 'state': state})}", status_code=302)

    def _client_ok(self, request: Request, form) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        return client_id == self.client_id and secrets.compare_digest(str(secret or ""), self.client_secret)

    async def _token(self, request: Request) -> JSONResponse:
        self.token_requests += 1
        form = await request.form()
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = self._codes.pop(str(form.get("code")), None)  # a code is good once
        if (form.get("grant_type") != "authorization_code" or grant is None
                or grant["redirect_uri"] != form.get("redirect_uri") or time.time() - grant["at"] > 60):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        user = self._user_by_sub(grant["sub"])
        access_token = secrets.token_urlsafe(32)
        self._tokens[access_token] = user.sub
        now = int(time.time())
        claims = {**self._claims(user), "iss": self.url, "aud": self.client_id, "iat": now, "auth_time": now,
                  "exp": now + self.token_lifetime_s,
                  "at_hash": _b64url(hashlib.sha256(access_token.encode()).digest()[:16])}
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        id_token = jwt.encode({"alg": "RS256", "kid": self.signing_key.kid}, claims, self.signing_key)
        return JSONResponse({"access_token": access_token, "token_type": "Bearer", "expires_in": self.token_lifetime_s,
                             "scope": grant["scope"], "id_token": id_token})

    async def _userinfo(self, request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        sub = self._tokens.get(auth[7:]) if auth.lower().startswith("bearer ") else None
        user = self._user_by_sub(sub) if sub else None
        if user is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(self._claims(user))

    async def _jwks(self, request: Request) -> JSONResponse:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})
