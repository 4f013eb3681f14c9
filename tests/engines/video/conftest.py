"""Helpers shared by the video engine tests: an independent ffprobe reader, decoded frames, real
speech clips and small test images. Importable: `from tests.engines.video.conftest import ffprobe`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from core.audio import Audio

SAMPLES = Path(__file__).resolve().parents[2] / "data"  # tests/data: voices and portraits
GOLD_RGB = np.array([0xD4, 0xAF, 0x37])


def ffprobe(path: str | Path) -> dict:
    """ffprobe's JSON for the file: {'streams': [...], 'format': {...}, 'chapters': [...]}."""
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
                          "-show_chapters", str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def stream(info: dict, kind: str) -> dict | None:
    """The first stream of `kind` ("video" or "audio") in ffprobe output, or None."""
    return next((s for s in info["streams"] if s["codec_type"] == kind), None)


def atoms(path: str | Path) -> list[str]:
    """Top-level MP4 box types in file order, read directly from the bytes."""
    kinds, data = [], Path(path).read_bytes()
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        kinds.append(data[pos + 4:pos + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[pos + 8:pos + 16], "big")
        elif size == 0:
            break
        pos += size
    return kinds


def decode_frames(path: str | Path) -> np.ndarray:
    """Every frame of a (small) video as an RGB uint8 array (n, height, width, 3)."""
    v = stream(ffprobe(path), "video")
    w, h = int(v["width"]), int(v["height"])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "pipe:1"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def assert_mp4_basics(path: str | Path, width: int, height: int, audio_s: float | None, fps: int) -> dict:
    """H.264 yuv420p (+ AAC when audio_s), the asked size, moov before mdat, and both streams as long as
    the audio within one frame. Returns the ffprobe JSON."""
    info = ffprobe(path)
    v = stream(info, "video")
    assert v["codec_name"] == "h264" and v["pix_fmt"] == "yuv420p"
    assert (v["width"], v["height"]) == (width, height)
    boxes = atoms(path)
    assert boxes.index("moov") < boxes.index("mdat"), boxes
    if audio_s is not None:
        a = stream(info, "audio")
        assert a is not None and a["codec_name"] == "aac"
        frame = 1.0 / fps
        assert abs(float(v["duration"]) - audio_s) <= frame, (v["duration"], audio_s)
        assert abs(float(a["duration"]) - audio_s) <= frame, (a["duration"], audio_s)
        assert float(a["duration"]) - float(v["duration"]) <= frame
        assert int(v["nb_frames"]) == max(1, round(audio_s * fps))
    return info


def gold_pixels(region: np.ndarray, tol: int = 40) -> int:
    """How many pixels are near the caption gold (#d4af37)."""
    return int((np.abs(region.astype(int) - GOLD_RGB).max(axis=-1) < tol).sum())


def white_pixels(region: np.ndarray, floor: int = 215) -> int:
    return int((region.min(axis=-1) >= floor).sum())


def speech(seconds: float, speaker: str = "librispeech-1688", index: int = 0) -> Audio:
    """A real speech clip cut to `seconds` (looped if the file is shorter)."""
    files = sorted((SAMPLES / "voices" / speaker).glob("*.flac"))
    if not files:
        pytest.skip(f"no speech samples in {SAMPLES / 'voices' / speaker}")
    a = Audio.read(files[index]).mono()
    n = int(round(seconds * a.sample_rate))
    reps = -(-n // len(a.samples))
    return Audio(np.tile(a.samples, reps)[:n].astype(np.float32), a.sample_rate)


def portrait(name: str = "art_0.png") -> Path:
    path = SAMPLES / "portraits" / name
    if not path.is_file():
        pytest.skip(f"portrait sample {path} not found")
    return path


def pattern_image(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """A textured test image (smooth colour gradients plus random blocks) saved as PNG."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([xx * 255 // max(1, width - 1), yy * 255 // max(1, height - 1),
                    np.full_like(xx, 90 + (40 * seed) % 160)], axis=-1).astype(np.uint8)
    for _ in range(30):
        x, y = rng.integers(0, width - 8), rng.integers(0, height - 8)
        bh, bw = rng.integers(4, max(5, height // 6)), rng.integers(4, max(5, width // 6))
        img[y:y + bh, x:x + bw] = rng.integers(0, 255, 3)
    Image.fromarray(img).save(path)
    return path


def solid_image(path: Path, width: int, height: int, rgb: tuple[int, int, int]) -> Path:
    from PIL import Image

    Image.new("RGB", (width, height), rgb).save(path)
    return path


def make_head_video(path: Path, seconds: float, size_px: int = 128, fps: int = 25) -> Path:
    """A small 'talking head' MP4 with real speech: the portrait art_1 with a bar that sweeps down it
    (so consecutive frames differ), encoded by the engine's VideoWriter."""
    from PIL import Image

    from engines.video.encode import VideoWriter, frames_for

    img = np.asarray(Image.open(portrait("art_1.png")).convert("RGB").resize((size_px, size_px)))
    audio = speech(seconds, "librispeech-1998")
    n = frames_for(audio.duration_s, fps)
    with VideoWriter(path, size_px, size_px, fps, audio) as out:
        for k in range(n):
            frame = img.copy()
            y = int(k / max(1, n - 1) * (size_px - 8))
            frame[y:y + 8] = (0, 200, 255)
            out.write(frame)
    return path


def piper_speech(text: str) -> Audio:
    """`text` spoken by the repo's Piper voice (real neural speech, made on the spot)."""
    from engines.voice import piper

    ok, why = piper.available()
    if not ok:
        pytest.skip(f"the Piper voice cannot speak here: {why}")
    return piper.synthesize(text, piper.find_voice())


def recogniser_settings(data_dir: Path):
    """Settings for the speech recogniser (Whisper base from the installed packages), or a skip saying why
    it cannot run."""
    from engines import asr
    from settings import Settings

    settings = Settings(data_dir=data_dir)
    ready = asr.available(settings)
    if not ready.available:
        pytest.skip(f"speech recognition is not available: {ready.reason}")
    return settings


def caption_area_changes(with_captions: np.ndarray, without: np.ndarray, box: tuple[int, int, int, int]) -> tuple:
    """(mean change inside the caption box, mean change outside it) between two decoded RGB frames."""
    x, y, w, h = box
    d = np.abs(with_captions.astype(np.int16) - without.astype(np.int16)).mean(axis=-1)
    inside = np.zeros(d.shape, bool)
    inside[y:y + h, x:x + w] = True
    return float(d[inside].mean()), float(d[~inside].mean())
