"""Rendering MIDI to audio with FluidSynth and a General MIDI soundfont, one stereo track per stem.

The soundfont takes ~2 s to load (its samples are decoded), so the synthesiser is loaded once through
the model registry and shared; a lock serialises songs that render at the same time.
"""

from __future__ import annotations

import glob
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.audio import Audio
from engines.errors import BackendUnavailable
from engines.progress import CancelToken, ProgressFn, no_progress
from engines.registry import MODELS

log = logging.getLogger(__name__)

SAMPLE_RATE = 44100
PREFERRED_SOUNDFONT = "/usr/share/sounds/sf3/MuseScore_General.sf3"
# Where General MIDI soundfonts are installed by Debian packages, searched in this order.
SOUNDFONT_GLOBS = ("/usr/share/sounds/sf3/*.sf3", "/usr/share/sounds/sf2/*.sf2", "/usr/share/soundfonts/*.sf[23]")
# FluidSynth's output gain: low enough that a full orchestra stem does not clip its 16-bit output.
SYNTH_GAIN = 0.6
DRUM_CHANNEL = 9
END_FADE_S = 0.05
FLUSH_SAMPLES = 8192


@dataclass
class Synth:
    """A loaded FluidSynth with its soundfont; `lock` is held while rendering."""

    # fluidsynth.Synth instance.
    fs: object
    # Soundfont id inside the synth.
    sfid: int
    # The soundfont file.
    path: str
    lock: threading.Lock

    def close(self) -> None:
        self.fs.delete()


def find_soundfont(preferred: str = PREFERRED_SOUNDFONT) -> str:
    """The soundfont to use: the preferred one, else any General MIDI soundfont found; else BackendUnavailable."""
    if Path(preferred).is_file():
        return preferred
    for pattern in SOUNDFONT_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            log.warning("soundfont %s not found; using %s", preferred, found[0])
            return found[0]
    raise BackendUnavailable("no General MIDI soundfont is installed: install the Debian package "
                             "musescore-general-soundfont-small (or fluid-soundfont-gm)")


def _load_synth(path: str) -> Synth:
    try:
        import fluidsynth
    except (ImportError, OSError) as e:  # OSError: libfluidsynth missing
        raise BackendUnavailable(f"FluidSynth is not available ({e}): install the Debian package fluidsynth "
                                 "and the Python package pyfluidsynth") from e
    fs = fluidsynth.Synth(gain=SYNTH_GAIN, samplerate=float(SAMPLE_RATE))
    # Dry output: reverb and chorus are the mixer's job.
    fs.setting("synth.reverb.active", 0)
    fs.setting("synth.chorus.active", 0)
    sfid = fs.sfload(path)
    if sfid < 0:
        fs.delete()
        raise BackendUnavailable(f"FluidSynth could not load the soundfont {path}")
    return Synth(fs, sfid, path, threading.Lock())


def get_synth(soundfont: str | None = None) -> Synth:
    path = soundfont or find_soundfont()
    return MODELS.get(f"fluidsynth:{path}", lambda: _load_synth(path))


def _events(instruments: list, channels: list[int]) -> np.ndarray:
    """Rows (sample, order, channel, pitch, velocity) sorted in time; note-offs sort before note-ons."""
    rows = []
    for inst, ch in zip(instruments, channels):
        for n in inst.notes:
            rows.append((int(round(n.start * SAMPLE_RATE)), 1, ch, n.pitch, n.velocity))
            rows.append((int(round(n.end * SAMPLE_RATE)), 0, ch, n.pitch, 0))
    if not rows:
        return np.zeros((0, 5), np.int64)
    ev = np.array(rows, np.int64)
    return ev[np.lexsort((ev[:, 1], ev[:, 0]))]


def _render(synth: Synth, instruments: list, n_samples: int) -> np.ndarray:
    """Stereo float32 (n_samples, 2) of the instruments played together."""
    fs = synth.fs
    fs.system_reset()
    for ch in range(16):
        fs.cc(ch, 120, 0)  # all sound off
    fs.get_samples(FLUSH_SAMPLES)  # voices stop at the next block: render and drop it, so nothing rings over
    channels = []
    next_ch = 0
    for inst in instruments:
        if inst.is_drum:
            ch = DRUM_CHANNEL
            fs.program_select(ch, synth.sfid, 128, 0)
        else:
            if next_ch == DRUM_CHANNEL:
                next_ch += 1
            ch = next_ch
            next_ch += 1
            fs.program_select(ch, synth.sfid, 0, int(inst.program))
        channels.append(ch)
    ev = _events(instruments, channels)
    # FluidSynth renders in 64-sample blocks: render whole blocks so the next render starts aligned
    # (same input, same output).
    wanted = n_samples
    n_samples = -(-n_samples // 64) * 64
    out = np.zeros(n_samples * 2, np.int16)
    pos = 0
    for sample, on, ch, pitch, vel in ev:
        sample = min(int(sample), n_samples)
        if sample > pos:
            out[2 * pos:2 * sample] = fs.get_samples(sample - pos)
            pos = sample
        if pos >= n_samples:
            break
        if on:
            fs.noteon(int(ch), int(pitch), int(vel))
        else:
            fs.noteoff(int(ch), int(pitch))
    if pos < n_samples:
        out[2 * pos:] = fs.get_samples(n_samples - pos)
    y = out.reshape(-1, 2)[:wanted].astype(np.float32) / 32768.0
    n_samples = wanted
    fade = min(n_samples, int(END_FADE_S * SAMPLE_RATE))
    if fade:
        y[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    return y


def render_stems(composition, soundfont: str | None = None, progress: ProgressFn = no_progress,  # noqa: ANN001
                 cancel: CancelToken | None = None) -> dict[str, Audio]:
    """One stereo 44.1 kHz Audio per stem of a Composition, each exactly `composition.length_s` long."""
    synth = get_synth(soundfont)
    n = int(round(composition.length_s * SAMPLE_RATE))
    out: dict[str, Audio] = {}
    items = list(composition.stems.items())
    with synth.lock:
        for i, (stem, indices) in enumerate(items):
            if cancel is not None:
                cancel.raise_if_set()
            progress(i, len(items), f"rendering {stem}")
            y = _render(synth, [composition.midi.instruments[k] for k in indices], n)
            out[stem] = Audio(y, SAMPLE_RATE)
    progress(len(items), len(items), "rendered")
    return out


def render_floor(midi, soundfont: str | None = None) -> Audio:  # noqa: ANN001
    """The whole MIDI (every instrument, the vocal line too) rendered plainly: the quality floor."""
    synth = get_synth(soundfont)
    n = int(round(midi.get_end_time() * SAMPLE_RATE))
    with synth.lock:
        y = _render(synth, list(midi.instruments), max(n, 1))
    return Audio(y, SAMPLE_RATE)
