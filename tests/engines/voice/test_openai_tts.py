"""OpenAI backend against a local server that speaks the speech API and answers with real speech.

The server synthesises the requested text with espeak-ng, so the audio's length follows the text,
and it sends WAV the way a streaming server does (RIFF and data sizes left at 0xFFFFFFFF).
"""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import soundfile as sf

from core.errors import BackendUnavailable, InputError
from engines.voice import espeak
from engines.voice.backends.base import SpeechRequest
from engines.voice.backends.openai_tts import DEFAULT_TTS_MODEL, OpenAIBackend
from settings import Settings

pytest.importorskip("openai")
KEY = "sk-test"
SHORT = "The quick brown fox jumps over the lazy dog."
LONG = " ".join([SHORT, "Pack my box with five dozen liquor jugs.", "How vexingly quick daft zebras jump!",
                 "Sphinx of black quartz, judge my vow."])


def _streamed_wav(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    data = bytearray(buf.getvalue())
    data[4:8] = struct.pack("<I", 0xFFFFFFFF)  # RIFF size unknown, as when streaming
    at = data.index(b"data")
    data[at + 4:at + 8] = struct.pack("<I", 0xFFFFFFFF)
    return bytes(data)


class FakeSpeechAPI(BaseHTTPRequestHandler):
    requests: list[dict] = []  # replaced per server

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, code: str) -> None:
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
        self._reply(status, json.dumps(body).encode(), "application/json")

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.server.received.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        if self.path != "/v1/audio/speech":
            return self._error(404, f"no route {self.path}", "not_found")
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            # Like some servers, quote the key that was sent: the backend must not pass it on.
            sent = self.headers.get("Authorization", "").removeprefix("Bearer ")
            return self._error(401, f"Incorrect API key provided: {sent}", "invalid_api_key")
        if body.get("voice") not in {"alloy", "ash", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer"}:
            return self._error(400, f"Invalid voice {body.get('voice')!r}", "invalid_value")
        if body.get("response_format") != "wav":
            return self._error(400, "this test server only speaks wav", "invalid_value")
        audio = espeak.synthesize(body["input"], voice="en-us", speed=float(body.get("speed", 1.0)))
        self._reply(200, _streamed_wav(audio.samples, audio.sample_rate), "audio/wav")


@pytest.fixture
def server():
    if not espeak.available():
        pytest.skip("espeak-ng not installed (Debian package espeak-ng)")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeSpeechAPI)
    httpd.received = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _settings(port: int, key: str = KEY) -> Settings:
    return Settings(openai_api_key=key, openai_base_url=f"http://127.0.0.1:{port}/v1")


def test_speech_comes_back_as_audio_that_follows_the_text(server):
    settings = _settings(server.server_port)
    backend = OpenAIBackend()
    assert backend.availability(settings).available
    short = backend.synthesize(SpeechRequest(SHORT, preset="nova"), settings)
    long = backend.synthesize(SpeechRequest(LONG), settings)

    first, second = server.received
    assert first["path"] == "/v1/audio/speech" and first["auth"] == f"Bearer {KEY}"
    assert (first["model"], first["voice"], first["input"]) == (DEFAULT_TTS_MODEL, "nova", SHORT)
    assert (first["response_format"], first["speed"]) == ("wav", 1.0)
    assert (second["voice"], second["input"]) == ("alloy", LONG)  # default voice

    for audio in (short, long):
        assert audio.sample_rate == espeak.SAMPLE_RATE
        assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
        assert np.isfinite(audio.samples).all() and np.abs(audio.samples).max() > 0.05
    assert short.duration_s > 0.5
    ratio = long.duration_s / short.duration_s
    chars = len(LONG) / len(SHORT)
    assert 0.6 * chars < ratio < 1.4 * chars, (short.duration_s, long.duration_s)


def test_speed_is_sent_and_clamped(server):
    settings = _settings(server.server_port)
    backend = OpenAIBackend(model="tts-1")
    normal = backend.synthesize(SpeechRequest(LONG), settings)
    fast = backend.synthesize(SpeechRequest(LONG, speed=2.0), settings)
    backend.synthesize(SpeechRequest(SHORT, speed=10.0), settings)
    assert [r["speed"] for r in server.received] == [1.0, 2.0, 4.0]
    assert {r["model"] for r in server.received} == {"tts-1"}
    assert fast.duration_s < 0.75 * normal.duration_s


def test_wrong_key_is_reported_without_leaking_it(server):
    settings = _settings(server.server_port, key="sk-wrong-secret")
    with pytest.raises(BackendUnavailable, match="rejected the API key .*OPENAI_API_KEY") as caught:
        OpenAIBackend().synthesize(SpeechRequest(SHORT), settings)
    assert "sk-wrong" not in str(caught.value) and "secret" not in str(caught.value)
    assert "Incorrect API key provided: [key hidden]" in str(caught.value)
    assert len(server.received) == 1  # a 401 is not retried


def test_refused_voice_is_an_input_error(server):
    with pytest.raises(InputError, match="Invalid voice 'darth'"):
        OpenAIBackend().synthesize(SpeechRequest(SHORT, preset="darth"), _settings(server.server_port))


def test_wrong_base_url_says_so(server):
    settings = Settings(openai_api_key=KEY, openai_base_url=f"http://127.0.0.1:{server.server_port}/nope")
    with pytest.raises(BackendUnavailable, match="no speech endpoint .*OPENAI_BASE_URL"):
        OpenAIBackend().synthesize(SpeechRequest(SHORT), settings)


def test_server_down_is_reported_quickly():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}/v1 could not be reached"):
        OpenAIBackend().synthesize(SpeechRequest(SHORT), _settings(port))


def test_no_key_means_unavailable_and_nothing_is_sent(backends):
    settings = Settings(openai_api_key="", openai_base_url="http://127.0.0.1:9/v1")
    a = OpenAIBackend().availability(settings)
    assert not a.available and a.reason == "OPENAI_API_KEY is not set"
    with pytest.raises(BackendUnavailable, match="OPENAI_API_KEY is not set"):
        OpenAIBackend().synthesize(SpeechRequest(SHORT), settings)
    offered = backends.get("voice", "openai")
    assert (offered.tier, offered.licence) == ("cloud", "OpenAI terms of use")
    assert not backends.availability("voice", "openai", settings).available
    assert "alloy" in OpenAIBackend().presets()


def test_input_limits():
    settings = Settings(openai_api_key=KEY, openai_base_url="http://127.0.0.1:9/v1")
    with pytest.raises(InputError, match="at most 4096"):
        OpenAIBackend().synthesize(SpeechRequest("a" * 4097), settings)
    with pytest.raises(InputError, match="no text"):
        OpenAIBackend().synthesize(SpeechRequest("   "), settings)
