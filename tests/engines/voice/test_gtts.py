"""gTTS backend: online only. Without Google's servers it must fail fast and clearly, never hang.

The failure paths are made deterministic with a local HTTPS proxy (gTTS honours HTTPS_PROXY) that
either refuses the tunnel or accepts it and never answers; the MP3 decoding is checked on MP3 made
here from espeak-ng speech.
"""

from __future__ import annotations

import io
import socket
import threading

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("gtts")

from core.errors import BackendUnavailable, InputError
from engines.voice import espeak
from engines.voice.backends.base import SpeechRequest
from engines.voice.backends.gtts_backend import GTTSBackend, decode_mp3
from settings import Settings


class Proxy:
    """A local proxy that records CONNECT lines, then refuses (502) or holds the line silently."""

    def __init__(self, mode: str) -> None:
        self.mode, self.lines, self.conns = mode, [], []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.lines.append(data.split(b"\r\n")[0].decode())
            if self.mode == "refuse":
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def proxy(request, monkeypatch):
    p = Proxy(request.param)
    for var in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", p.url)
    yield p
    p.close()


def test_availability_says_online_only(settings: Settings, backends):
    a = GTTSBackend().availability(settings)
    assert a.available
    assert "online only" in a.reason and "internet access to Google's servers" in a.reason
    offered = backends.get("voice", "gtts")
    assert (offered.tier, offered.licence) == ("cloud", "Google Translate TTS terms")
    assert backends.availability("voice", "gtts", settings).available
    assert not offered.auto  # it sends the text to Google: only when named


@pytest.mark.parametrize("proxy", ["refuse"], indirect=True)
def test_network_failure_is_a_clear_backend_error(proxy, settings: Settings):
    with pytest.raises(BackendUnavailable, match="gTTS needs internet access to Google's servers") as caught:
        GTTSBackend(timeout_s=10).synthesize(SpeechRequest("Hello there.", language="en-GB"), settings)
    assert "translate.google.co.uk" in str(caught.value)  # en-GB -> the British accent's domain
    assert proxy.lines and proxy.lines[0].startswith("CONNECT translate.google.co.uk:443")


@pytest.mark.parametrize("proxy", ["hang"], indirect=True)
def test_a_black_holed_network_hits_the_deadline(proxy, settings: Settings):
    with pytest.raises(BackendUnavailable, match=r"did not answer within 1\.5 s"):
        GTTSBackend(timeout_s=1.5).synthesize(SpeechRequest("Bonjour.", language="fr", preset="ca"), settings)
    assert proxy.lines[0].startswith("CONNECT translate.google.ca:443")


def test_this_machine_without_network_fails_fast(settings: Settings, monkeypatch):
    """On the sandbox (no route to Google) the real call fails quickly; online it returns speech."""
    for var in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    try:
        audio = GTTSBackend(timeout_s=10).synthesize(SpeechRequest("Hello world."), settings)
    except BackendUnavailable as e:
        assert "gTTS needs internet access to Google's servers" in str(e)
    else:  # a machine with internet access
        assert audio.sample_rate == 24_000 and audio.duration_s > 0.3


def test_bad_language_and_accent_are_input_errors(settings: Settings):
    backend = GTTSBackend(timeout_s=1)
    with pytest.raises(InputError, match="'xx-yy'"):
        backend.synthesize(SpeechRequest("hello", language="xx-yy"), settings)
    with pytest.raises(InputError, match="accent 'evil.example'"):
        backend.synthesize(SpeechRequest("hello", preset="evil.example"), settings)
    with pytest.raises(InputError, match="no text"):
        backend.synthesize(SpeechRequest("  "), settings)
    assert "co.uk" in backend.presets()


def test_mp3_parts_are_decoded_and_joined():
    if not espeak.available():
        pytest.skip("espeak-ng not installed")
    speech = espeak.synthesize("Hello there, this is a test of the decoder.").resampled(24_000)
    buf = io.BytesIO()
    sf.write(buf, speech.samples, 24_000, format="MP3")
    audio = decode_mp3(buf.getvalue())
    assert audio.sample_rate == 24_000 and audio.samples.dtype == np.float32
    assert abs(audio.duration_s - speech.duration_s) < 0.1
    assert np.isfinite(audio.samples).all() and np.abs(audio.samples).max() > 0.05
    with pytest.raises(BackendUnavailable, match="cannot decode"):
        decode_mp3(b"<html>not audio</html>")


def test_module_import_is_light():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; import engines.voice.backends.gtts_backend, engines.voice.backends.openai_tts; "
            "print(sorted(m for m in ('gtts', 'openai', 'requests', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3]).stdout.strip()
    assert out == "[]"
