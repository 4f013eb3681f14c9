"""The one translation of OpenAI-compatible servers' errors, shared by the language model and the
OpenAI speech backend: every failure gets a message a user can act on, and the API key never shows,
even from a server that quotes it back. Real errors of the real client, from a local server."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.errors import BackendUnavailable, InputError
from engines.openai_api import HIDDEN, hide_key, translate_error

openai = pytest.importorskip("openai")
# A key that does not look like one: only knowing it hides it.
KEY = "hunter2-correct-horse-battery"


class EchoingServer(BaseHTTPRequestHandler):
    """Answers /<status>/v1/... with that status and a message that quotes the key it was sent."""

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status = int(self.path.split("/")[1])
        if status == 0:  # too slow: the client's timeout ends the wait
            time.sleep(2)
            status = 500
        sent = self.headers.get("Authorization", "").removeprefix("Bearer ")
        body = json.dumps({"error": {"message": f"refused (you sent {sent}, also try sk-proj-abcdef123456)",
                                     "type": "invalid_request_error", "code": str(status)}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def port():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), EchoingServer)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd.server_port
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _failure(url: str, timeout_s: float = 10) -> Exception:
    with openai.OpenAI(api_key=KEY, base_url=url, timeout=timeout_s, max_retries=0) as client:
        try:
            client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}])
        except openai.APIError as e:
            return e
    raise AssertionError("the server was expected to fail")


def _translate(error: Exception, url: str, refused: type[Exception] = BackendUnavailable) -> Exception:
    return translate_error(error, server="test server", url=url, key=KEY, model="m1", endpoint="chat",
                           timeout_s=1, settings_hint="OPENAI_BASE_URL and OPENAI_MODEL", refused=refused)


@pytest.mark.parametrize("status, kind, says", [
    (401, BackendUnavailable, r"rejected the API key \(401\).*check OPENAI_API_KEY"),
    (403, BackendUnavailable, r"refused access to 'm1' \(403\)"),
    (404, BackendUnavailable, r"no chat endpoint or no model 'm1' \(404\).*check OPENAI_BASE_URL and OPENAI_MODEL"),
    (400, InputError, r"refused the request \(400\)"),
    (422, InputError, r"refused the request \(422\)"),
    (429, BackendUnavailable, r"rate limit or quota exceeded .*\(429\)"),
    (500, BackendUnavailable, r"failed \(500\)"),
])
def test_each_status_gets_its_reason_and_never_the_key(port, status, kind, says):
    url = f"http://127.0.0.1:{port}/{status}/v1"
    error = _failure(url)
    assert KEY in str(error)  # the client's own message quotes the server, key and all
    translated = _translate(error, url, refused=InputError)
    message = str(translated)
    assert type(translated) is kind
    assert re.search(says, message), message
    assert url in message and f"refused (you sent {HIDDEN}, also try {HIDDEN})" in message
    assert KEY not in message and "sk-proj" not in message


def test_a_malformed_request_is_the_apps_fault_unless_said_otherwise(port):
    url = f"http://127.0.0.1:{port}/400/v1"
    assert type(_translate(_failure(url), url)) is BackendUnavailable


def test_unreachable_and_silent_servers(port):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    message = str(_translate(_failure(closed), closed))
    assert f"the test server at {closed} could not be reached: check the network or OPENAI_BASE_URL" == message

    slow = f"http://127.0.0.1:{port}/0/v1"
    message = str(_translate(_failure(slow, timeout_s=0.5), slow))
    assert message == f"the test server at {slow} did not answer within 1 s"


def test_hide_key():
    assert hide_key(f"bad key {KEY}!", KEY) == f"bad key {HIDDEN}!"
    assert hide_key("keys like sk-abc123xyz and api_key-0987654 go too", None) == \
        f"keys like {HIDDEN} and {HIDDEN} go too"
    assert hide_key("the model sketch-1 is fine", KEY) == "the model sketch-1 is fine"
