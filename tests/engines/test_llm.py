"""The language-model helper against a local server that speaks the chat-completions API.

The server answers with text derived from the request (the user message reversed word by word and
the model's name), so a test can tell that what came back was computed from what was sent.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.errors import BackendUnavailable, InputError
from engines import llm
from settings import Settings

pytest.importorskip("openai")
KEY = "sk-test-key"
SYSTEM = "You write short song lyrics. Answer with the lyrics only."
USER = "a song about the sea at night"


class FakeChatAPI(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, code: str) -> None:
        self._reply(status, {"error": {"message": message, "type": "invalid_request_error", "param": None,
                                       "code": code}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        auth = self.headers.get("Authorization", "")
        self.server.received.append({"path": self.path, "auth": auth, **body})
        if self.path != "/v1/chat/completions":
            return self._error(404, f"no route {self.path}", "not_found")
        if self.server.key is not None and auth != f"Bearer {self.server.key}":
            # Like some servers, echo the key that was sent: the helper must not pass it on.
            return self._error(401, f"Incorrect API key provided: {auth.removeprefix('Bearer ')}", "invalid_api_key")
        if self.server.mode == "quota":
            return self._error(429, "You exceeded your current quota, please check your plan and billing details.",
                               "insufficient_quota")
        if body.get("model") not in self.server.models:
            return self._error(404, f"The model `{body.get('model')}` does not exist", "model_not_found")
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        if self.server.mode == "empty":
            content = ""
        elif self.server.mode == "think":
            content = "<think>the user wants a sea song\nmaybe waves</think>\n\nWaves under starlight"
        else:
            content = f"{' '.join(reversed(user.split()))} ({body['model']})"
        self._reply(200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        })


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeChatAPI)
    httpd.received, httpd.key, httpd.mode, httpd.models = [], KEY, "ok", {"gpt-4o-mini", "llama3.2"}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _settings(port: int, key: str = KEY, model: str = "gpt-4o-mini") -> Settings:
    return Settings(openai_api_key=key, openai_base_url=f"http://127.0.0.1:{port}/v1", openai_model=model)


def test_answer_is_computed_from_the_request_and_the_request_is_complete(server):
    settings = _settings(server.server_port, model="llama3.2")
    assert llm.available(settings).available
    text = llm.complete(settings, SYSTEM, USER, max_tokens=120, temperature=0.3)
    assert text == "night at sea the about song a (llama3.2)"

    (sent,) = server.received
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == f"Bearer {KEY}"
    assert sent["model"] == "llama3.2"
    assert sent["messages"] == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    assert (sent["max_tokens"], sent["temperature"]) == (120, 0.3)


def test_defaults_and_no_system_message(server):
    llm.complete(_settings(server.server_port), "", USER)
    (sent,) = server.received
    assert sent["messages"] == [{"role": "user", "content": USER}]
    assert (sent["model"], sent["max_tokens"], sent["temperature"]) == ("gpt-4o-mini", 900, 0.8)


def test_local_server_without_a_key(server):
    server.key = None  # a local server that checks nothing
    settings = Settings(openai_api_key="", openai_base_url=f"http://127.0.0.1:{server.server_port}/v1")
    assert llm.available(settings).available
    assert llm.complete(settings, SYSTEM, "hello there").startswith("there hello")


def test_reasoning_blocks_are_dropped(server):
    server.mode = "think"
    assert llm.complete(_settings(server.server_port), SYSTEM, USER) == "Waves under starlight"


def test_wrong_key_gives_the_reason_without_the_key(server):
    settings = _settings(server.server_port, key="sk-wrong-secret-123")
    with pytest.raises(BackendUnavailable, match=r"rejected the API key \(401\): Incorrect API key provided") as caught:
        llm.complete(settings, SYSTEM, USER)
    message = str(caught.value)
    assert "sk-wrong" not in message and "secret-123" not in message and "OPENAI_API_KEY" in message
    assert len(server.received) == 1  # a 401 is not retried


def test_quota_unknown_model_and_empty_answer(server):
    settings = _settings(server.server_port)
    server.mode = "quota"
    with pytest.raises(BackendUnavailable, match=r"quota exceeded .*\(429\): You exceeded your current quota"):
        llm.complete(settings, SYSTEM, USER)
    server.mode = "ok"
    with pytest.raises(BackendUnavailable, match=r"no model 'gpt-9' \(404\).*does not exist.*OPENAI_MODEL"):
        llm.complete(_settings(server.server_port, model="gpt-9"), SYSTEM, USER)
    server.mode = "empty"
    with pytest.raises(BackendUnavailable, match="empty answer"):
        llm.complete(settings, SYSTEM, USER)


def test_wrong_base_url_says_so(server):
    settings = Settings(openai_api_key=KEY, openai_base_url=f"http://127.0.0.1:{server.server_port}/nope")
    with pytest.raises(BackendUnavailable, match="no chat endpoint .*OPENAI_BASE_URL"):
        llm.complete(settings, SYSTEM, USER)
    assert server.received[0]["path"] == "/nope/chat/completions"


def test_server_down_is_reported():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}/v1 could not be reached"):
        llm.complete(_settings(port), SYSTEM, USER, timeout_s=5)


def test_not_configured_sends_nothing_and_is_offered(backends):
    for settings in (Settings(), Settings(openai_base_url="https://api.openai.com/v1")):
        a = llm.available(settings)
        assert not a.available and a.reason == llm.NOT_CONFIGURED
        with pytest.raises(BackendUnavailable, match="no language model configured: set OPENAI_API_KEY"):
            llm.complete(settings, SYSTEM, USER)
    assert backends.get("text", "openai-compatible").tier == "cloud"
    assert not backends.availability("text", "openai-compatible", Settings()).available
    assert backends.availability("text", "openai-compatible", Settings(openai_api_key=KEY)).available


def test_bad_requests_are_input_errors():
    settings = Settings(openai_api_key=KEY, openai_base_url="http://127.0.0.1:9/v1")
    with pytest.raises(InputError, match="empty"):
        llm.complete(settings, SYSTEM, "   ")
    with pytest.raises(InputError, match="temperature"):
        llm.complete(settings, SYSTEM, USER, temperature=3)
    with pytest.raises(InputError, match="at most"):
        llm.complete(settings, SYSTEM, "x" * (llm.MAX_PROMPT_CHARS + 1))
