"""Hugging Face sign-in, end to end: the app runs as in a Space with `hf_oauth: true` (SYSTEM=spaces,
SPACE_ID and the OAUTH_* variables, so Gradio uses its real OAuth routes and authlib), against a
small real OpenID provider on 127.0.0.1 (tests/openid_provider.py). People sign in the way a
browser does, following the redirects with a cookie jar; their API calls carry the session cookie.

The session cookie is set as on a Space, `Secure` (and SameSite=None). Whether a connection counts
as secure for cookies is the user agent's call: Chromium counts http://127.0.0.1 (a loopback address,
"potentially trustworthy" in W3C Secure Contexts) and keeps the cookie there (the browser test
shows it), httpx's jar never does. So these tests browse through `LoopbackBrowser`, a transport that
keeps cookies as Chromium does for 127.0.0.1 only. The app is not told anything: it sets the same
Secure cookie it sets on a Space, and a client that keeps Secure cookies for https only cannot sign
in over http (tested below).
"""

from __future__ import annotations

import email.message
import http.cookiejar
import re
import sqlite3
import urllib.request
from urllib.parse import urlsplit

import httpx
import pytest
from gradio_client import Client

from tests.conftest import AppProcess, free_port
from tests.openid_provider import OpenIDProvider

CLIENT_ID, CLIENT_SECRET = "studio-test-client", "studio-test-secret"


class _LoopbackIsSecure(http.cookiejar.DefaultCookiePolicy):
    def return_ok_secure(self, cookie, request) -> bool:
        return urlsplit(request.get_full_url()).hostname == "127.0.0.1" or super().return_ok_secure(cookie, request)


class _Headers:
    """What CookieJar.extract_cookies reads of a response."""

    def __init__(self, response: httpx.Response) -> None:
        self._message = email.message.Message()
        for key, value in response.headers.multi_items():
            self._message[key] = value

    def info(self) -> email.message.Message:
        return self._message


class LoopbackBrowser(httpx.BaseTransport):
    """Keeps cookies as Chromium does for http://127.0.0.1 (Secure ones too), for every request and
    every redirect (a policy given to httpx's own jar is lost: httpx copies the jar for each request)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.jar = http.cookiejar.CookieJar(policy=_LoopbackIsSecure())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        compat = urllib.request.Request(str(request.url), method=request.method)
        self.jar.add_cookie_header(compat)
        if "Cookie" in request.headers:
            del request.headers["Cookie"]
        if compat.has_header("Cookie"):
            request.headers["Cookie"] = compat.get_header("Cookie")
        response = self.inner.handle_request(request)
        self.jar.extract_cookies(_Headers(response), compat)
        return response

    def close(self) -> None:
        self.inner.close()

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


def browser(user_agent: str, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(transport=transport or LoopbackBrowser(), follow_redirects=True, trust_env=False,
                        headers={"User-Agent": user_agent}, timeout=60)


@pytest.fixture(scope="module")
def provider():
    p = OpenIDProvider(CLIENT_ID, CLIENT_SECRET)
    for name, sub in (("ada", "sub-ada-0001"), ("bob", "sub-bob-0002"), ("carol", "sub-carol-0003")):
        p.add_user(name, sub=sub)
    yield p
    p.stop()


@pytest.fixture(scope="module")
def app(provider, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("hf-oauth-app") / "data"
    # No SIGN_IN: auto picks Hugging Face sign-in in a Space whose OAuth is configured.
    app = AppProcess(data_dir, free_port(), env=provider.space_env(ADMIN_USERS="ada"))
    yield app
    app.stop()


def sign_in(app, provider, who: str) -> httpx.Client:
    """A browser that signs in at the provider as `who`, then in the app with "Sign in with Hugging Face"."""
    c = browser(f"studio-test/{who}")
    provider.sign_in(c, who)
    r = c.get(app.url + "login/huggingface?_target_url=/")
    assert r.status_code == 200 and str(r.url) == app.url, (r.status_code, r.url, r.text[:300])
    return c


def is_signed_in(c: httpx.Client, app) -> bool:
    return c.get(app.url + "gradio_api/info").status_code == 200


def failed_sign_ins(app, user_agent: str) -> list[tuple]:
    return db_rows(app, "SELECT username, ip, json_extract(detail, '$.error') FROM securityevent "
                        "WHERE type = 'login_failed' AND user_agent = ?", user_agent)


def session_cookie(c: httpx.Client) -> str:
    """The Cookie header that carries a signed-in browser's session."""
    session = c._transport.cookie("session")
    assert session
    return f"session={session}"


def api_client(c: httpx.Client, app, tmp_path_factory, **kw) -> Client:
    """The Gradio client of a signed-in browser: its session cookie on every call (as the README says)."""
    kw.setdefault("download_files", str(tmp_path_factory.mktemp("dl")))
    return Client(app.url, headers={"Cookie": session_cookie(c)}, verbose=False, **kw)


def db_rows(app, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(app.data_dir / "studio.db") as db:
        return db.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def ada(app, provider):
    return sign_in(app, provider, "ada")


@pytest.fixture(scope="module")
def ada_api(ada, app, tmp_path_factory):
    return api_client(ada, app, tmp_path_factory)


@pytest.fixture(scope="module")
def bob(app, provider):
    return sign_in(app, provider, "bob")


def test_signing_in_as_ada_makes_her_account_and_logs_it(app, provider):
    c = browser("studio-test/ada-first")
    provider.sign_in(c, "ada")
    r = c.get(app.url + "login/huggingface?_target_url=/")
    hops = [(h.status_code, h.url.port, h.url.path) for h in r.history]
    # The app sends her to the provider, which sends her back with a code; the app fetches the tokens
    # (checking the id_token's signature and nonce) and lands her on the studio.
    assert hops == [(302, app.port, "/login/huggingface"), (302, provider.port, "/oauth/authorize"),
                    (307, app.port, "/login/callback")], hops
    assert r.status_code == 200 and str(r.url) == app.url and "gradio_config" in r.text
    # The session cookie is set as on a Space: Secure, SameSite=None, HttpOnly.
    cookie = r.history[-1].headers["set-cookie"].lower()
    assert cookie.startswith("session=") and "; secure" in cookie and "samesite=none" in cookie and "httponly" in cookie
    assert is_signed_in(c, app)

    [(uid, name, hf_sub, hf_name, password, admin)] = db_rows(
        app, 'SELECT id, username, hf_sub, hf_username, password_hash, is_admin FROM "user" WHERE hf_sub IS NOT NULL')
    assert (name, hf_sub, hf_name, password, admin) == ("ada", "sub-ada-0001", "ada", "", 1)  # ADMIN_USERS=ada
    events = db_rows(app, "SELECT type, user_id, ip, user_agent FROM securityevent WHERE username = 'ada' ORDER BY id")
    assert ("user_created", uid, "127.0.0.1", "studio-test/ada-first") in events
    assert events[-1] == ("login_ok", uid, "127.0.0.1", "studio-test/ada-first")
    # The page shows the Hugging Face button, to sign out.
    config = c.get(app.url + "config").json()
    assert any(comp.get("props", {}).get("elem_id") == "hf-login" for comp in config["components"])


def test_requests_without_a_session_are_refused(app, ada_api):
    anon = browser("studio-test/anonymous")
    page = anon.get(app.url)
    assert page.status_code == 200 and 'href="login/huggingface?_target_url=/"' in page.text
    assert "gradio_config" not in page.text  # the sign-in page, not the studio
    assert anon.get(app.url + "config").status_code == 401
    assert anon.get(app.url + "gradio_api/info").status_code == 401
    named = ada_api.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert "/list_projects" in named and "/create_user" in named
    for endpoint in named:
        assert anon.post(f"{app.url}gradio_api/call{endpoint}", json={"data": []}).status_code == 401, endpoint
    assert anon.post(app.url + "gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "x"}) \
        .status_code == 401
    assert anon.post(app.url + "gradio_api/upload", files={"files": ("a.txt", b"x")}).status_code == 401
    with pytest.raises(Exception, match="(?i)login|credentials|authenticat|401"):
        Client(app.url, verbose=False)
    # A made-up session cookie is no session.
    forged = {"Cookie": "session=eyJvYXV0aF9pbmZvIjoge319.forged.sig"}
    assert httpx.get(app.url + "gradio_api/info", headers=forged, trust_env=False).status_code == 401


def test_two_hugging_face_users_see_only_their_own(app, ada, bob, ada_api, tmp_path_factory):
    bob_api = api_client(bob, app, tmp_path_factory)
    p = ada_api.predict(name="Ada's engine notes", api_name="/create_project")
    assert p["name"] == "Ada's engine notes"
    assert p["id"] in [x["id"] for x in ada_api.predict(api_name="/list_projects")]
    assert p["id"] not in [x["id"] for x in bob_api.predict(api_name="/list_projects")]
    with pytest.raises(Exception, match=f"there is no project with id {p['id']}"):
        bob_api.predict(project_id=p["id"], api_name="/list_assets")
    # Nor her download copies by URL.
    raw = api_client(ada, app, tmp_path_factory, download_files=False)
    url = raw.predict(project_id=p["id"], api_name="/export_project")["url"]
    assert "/dl-u" in url
    fetched = {who: httpx.get(url, headers={"Cookie": session_cookie(c)}, trust_env=False)
               for who, c in (("ada", ada), ("bob", bob))}
    assert fetched["ada"].status_code == 200 and fetched["ada"].content[:2] == b"PK"
    assert fetched["bob"].status_code == 403
    assert httpx.get(url, trust_env=False).status_code == 401
    # Admin tools answer ada (ADMIN_USERS) and not bob; accounts are not made by hand here.
    users = {u["username"]: u for u in ada_api.predict(api_name="/list_users")}
    assert users["bob"]["hf_username"] == "bob" and users["bob"]["can_sign_in"] and not users["bob"]["is_admin"]
    with pytest.raises(Exception, match="only an admin"):
        bob_api.predict(api_name="/list_users")
    with pytest.raises(Exception, match="made when its person first signs in"):
        ada_api.predict(username="dave", password="a long password", api_name="/create_user")


def test_a_disabled_account_is_refused_and_its_session_ends(app, provider, ada_api):
    carol = sign_in(app, provider, "carol")
    assert is_signed_in(carol, app)
    # A copy of her cookie, as an API client keeps it (the browser's own is emptied when refused).
    copied = {"Cookie": session_cookie(carol)}

    def copy_signed_in() -> bool:
        return httpx.get(app.url + "gradio_api/info", headers=copied, trust_env=False).status_code == 200

    assert copy_signed_in()
    assert ada_api.predict(username="carol", disabled=True, api_name="/set_user_disabled")["disabled"] is True
    assert not is_signed_in(carol, app) and not copy_signed_in()  # at once: every request checks the account
    assert "gradio_config" not in carol.get(app.url).text
    # Signing in again through Hugging Face is refused, and logged with the reason.
    again = browser("studio-test/carol-again")
    provider.sign_in(again, "carol")
    page = again.get(app.url + "login/huggingface?_target_url=/")
    assert page.status_code == 200 and "is disabled here" in page.text and not is_signed_in(again, app)
    [(reason,)] = db_rows(app, "SELECT json_extract(detail, '$.reason') FROM securityevent WHERE username = 'carol' "
                               "AND type = 'login_failed' AND user_agent = 'studio-test/carol-again'")
    assert reason == "disabled"
    # Enabled again, the old session stays ended; a new sign-in works.
    ada_api.predict(username="carol", disabled=False, api_name="/set_user_disabled")
    assert not is_signed_in(carol, app) and not copy_signed_in()
    assert is_signed_in(sign_in(app, provider, "carol"), app)


def test_a_renamed_hugging_face_user_keeps_their_account(app, provider, ada_api, tmp_path_factory):
    carol_api = api_client(sign_in(app, provider, "carol"), app, tmp_path_factory)
    p = carol_api.predict(name="Carol's", api_name="/create_project")
    provider.rename("carol", "caroline")
    caroline_api = api_client(sign_in(app, provider, "caroline"), app, tmp_path_factory)
    assert p["id"] in [x["id"] for x in caroline_api.predict(api_name="/list_projects")]
    users = {u["username"] for u in ada_api.predict(api_name="/list_users")}
    assert "caroline" in users and "carol" not in users


def _session_cookie_signed_by_the_app(session: dict) -> str:
    """A session cookie as Gradio's session middleware signs it (with a key derived from the OAuth
    client secret, which the test knows)."""
    import base64
    import hashlib
    import json

    import itsdangerous

    key = hashlib.sha256(f"{CLIENT_SECRET}-v4".encode()).hexdigest()
    data = itsdangerous.TimestampSigner(key).sign(base64.b64encode(json.dumps(session).encode()))
    return f"session={data.decode()}"


def test_a_session_the_studio_did_not_check_is_refused(app, ada):
    """Hugging Face's claims alone are not a session: the studio's own mark, set when the callback
    found the account, must be there too (and not older than the account's last disabling)."""
    import time

    claims = {"sub": "sub-ada-0001", "preferred_username": "ada", "name": "Ada", "profile": "", "picture": ""}
    info = {"access_token": "x", "token_type": "Bearer", "expires_at": int(time.time()) + 600, "userinfo": claims}

    def status(session: dict) -> int:
        cookie = _session_cookie_signed_by_the_app(session)
        return httpx.get(app.url + "gradio_api/info", headers={"Cookie": cookie}, trust_env=False).status_code

    marked = {"oauth_info": info, "studio_sign_in": {"sub": "sub-ada-0001", "at": time.time()}}
    assert status(marked) == 200  # so the cookie is made right, and what follows is refused for its content
    assert status({"oauth_info": info}) == 401
    assert status({**marked, "studio_sign_in": {"sub": "sub-bob-0002", "at": time.time()}}) == 401
    assert status({**marked, "oauth_info": {**info, "expires_at": int(time.time()) - 1}}) == 401


def test_signing_out_ends_the_session(app, provider):
    c = sign_in(app, provider, "ada")
    assert is_signed_in(c, app)
    r = c.get(app.url + "logout?_target_url=/")
    assert r.status_code == 200 and 'href="login/huggingface' in r.text
    assert not is_signed_in(c, app)


def test_an_id_token_not_signed_by_the_provider_is_refused(app, provider):
    from joserfc.jwk import RSAKey

    provider.add_user("mallory", sub="sub-mallory-0004")
    provider.signing_key = RSAKey.generate_key(2048, parameters={"kid": provider.key.kid, "alg": "RS256"})
    try:
        c = browser("studio-test/mallory")
        provider.sign_in(c, "mallory")
        r = c.get(app.url + "login/huggingface?_target_url=/")
        assert [h.url.path for h in r.history][-1] == "/login/callback" and str(r.url) == app.url
        assert r.status_code == 200 and "did not complete" in r.text and "gradio_config" not in r.text
        assert not is_signed_in(c, app)
    finally:
        provider.signing_key = provider.key
    assert db_rows(app, 'SELECT id FROM "user" WHERE hf_sub = ?', "sub-mallory-0004") == []
    assert failed_sign_ins(app, "studio-test/mallory") == [("", "127.0.0.1", "BadSignatureError")]
    assert is_signed_in(sign_in(app, provider, "mallory"), app)  # with the provider's own key, she can


def test_a_client_that_keeps_https_only_cookies_cannot_sign_in_over_http(app, provider):
    """The cookie stays Secure: httpx's own jar, which sends Secure cookies over https only, loses the
    sign-in's state between the provider and the callback (Gradio retries, then gives up)."""
    c = browser("studio-test/plain-httpx", transport=httpx.HTTPTransport())
    provider.sign_in(c, "bob")
    r = c.get(app.url + "login/huggingface?_target_url=/")
    callbacks = [h.url for h in r.history if h.url.path == "/login/callback"]
    assert len(callbacks) == 4  # three retries with a fresh state each, then no further way over http
    assert all(re.search(r"[?&]state=", str(u)) for u in callbacks)
    # Back on the sign-in page (without the reason: it travels in the same Secure cookie).
    assert r.status_code == 200 and 'id="hf-sign-in"' in r.text and "did not complete" not in r.text
    assert not is_signed_in(c, app)
    assert failed_sign_ins(app, "studio-test/plain-httpx") == [("", "127.0.0.1", "RuntimeError")]
