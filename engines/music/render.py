"""Rendering MIDI to audio with FluidSynth and a General MIDI soundfont, one stereo track per stem.

The soundfont takes ~2 s to load (its samples are decoded), so the synthesiser is loaded once through
the model registry and shared; a lock serialises songs that render at the same time.

All stems are rendered in one pass: the synth has AUDIO_GROUPS stereo outputs, MIDI channel c plays
into output c % AUDIO_GROUPS, so each stem gets its own output by putting its instruments on channels
g, g + AUDIO_GROUPS, g + 2*AUDIO_GROUPS, ... (the synth has MIDI_CHANNELS of them).
"""

from __future__ import annotations

import ctypes
import glob
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio import Audio
from core.errors import BackendUnavailable
from core.progress import CancelToken, ProgressFn, no_progress
from engines.music.types import SAMPLE_RATE
from engines.registry import MODELS

log = logging.getLogger(__name__)

PREFERRED_SOUNDFONT = "/usr/share/sounds/sf3/MuseScore_General.sf3"
# Where General MIDI soundfonts are installed by Debian packages, searched in this order.
SOUNDFONT_GLOBS = ("/usr/share/sounds/sf3/*.sf3", "/usr/share/sounds/sf2/*.sf2", "/usr/share/soundfonts/*.sf[23]")
# FluidSynth's output gain: low enough that a full orchestra stem does not clip its 16-bit output.
SYNTH_GAIN = 0.6
DRUM_CHANNEL = 9
END_FADE_S = 0.05
FLUSH_SAMPLES = 8192
# Stereo outputs of the synth (one per stem in a pass), MIDI channels, and simultaneous voices.
AUDIO_GROUPS = 16
MIDI_CHANNELS = 256
POLYPHONY = 1024
# Longest stretch rendered by one call (bounds the scratch buffer of unused outputs).
MAX_CHUNK_SAMPLES = 1 << 16
CHANNEL_TYPE_MELODIC, CHANNEL_TYPE_DRUM = 0, 1


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
    fs = fluidsynth.Synth(gain=SYNTH_GAIN, samplerate=float(SAMPLE_RATE), channels=MIDI_CHANNELS,
                          **{"synth.audio-groups": AUDIO_GROUPS, "synth.audio-channels": AUDIO_GROUPS,
                             "synth.polyphony": POLYPHONY})
    # Dry output: reverb and chorus are the mixer's job.
    fs.setting("synth.reverb.active", 0)
    fs.setting("synth.chorus.active", 0)
    sfid = fs.sfload(path)
    if sfid < 0:
        fs.delete()
        raise BackendUnavailable(f"FluidSynth could not load the soundfont {path}")
    return Synth(fs, sfid, path, threading.Lock())


def _lib():
    """libfluidsynth's functions for multi-output float rendering and channel types."""
    import fluidsynth

    lib = fluidsynth._fl
    write = lib.fluid_synth_nwrite_float
    write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                      ctypes.c_void_p]
    write.restype = ctypes.c_int
    set_type = lib.fluid_synth_set_channel_type
    set_type.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    set_type.restype = ctypes.c_int
    return write, set_type


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


def _render(synth: Synth, groups: list[list], n_samples: int, cancel: CancelToken | None = None,
            progress: ProgressFn = no_progress) -> np.ndarray:
    """Float32 (len(groups), 2, n_samples): each group of instruments played into its own stereo output,
    all in one pass over the song (at most AUDIO_GROUPS groups of at most MIDI_CHANNELS // AUDIO_GROUPS)."""
    if len(groups) > AUDIO_GROUPS or any(len(g) > MIDI_CHANNELS // AUDIO_GROUPS for g in groups):
        raise ValueError("too many instrument groups for one pass")
    write, set_type = _lib()
    fs = synth.fs
    handle = fs.synth
    # FluidSynth renders in 64-sample blocks: render whole blocks so the next render starts aligned
    # (same input, same output).
    total = -(-n_samples // 64) * 64
    out = np.zeros((len(groups), 2, total), np.float32)
    scratch = np.zeros((2, max(FLUSH_SAMPLES, MAX_CHUNK_SAMPLES)), np.float32)
    step = np.float32().itemsize

    def pointers(pos: int) -> tuple[ctypes.Array, ctypes.Array]:
        left = [scratch[0].ctypes.data] * AUDIO_GROUPS
        right = [scratch[1].ctypes.data] * AUDIO_GROUPS
        for g in range(len(groups)):
            left[g] = out[g, 0].ctypes.data + pos * step
            right[g] = out[g, 1].ctypes.data + pos * step
        return (ctypes.c_void_p * AUDIO_GROUPS)(*left), (ctypes.c_void_p * AUDIO_GROUPS)(*right)

    def run(pos: int, count: int) -> None:
        while count > 0:
            k = min(count, MAX_CHUNK_SAMPLES)
            left, right = pointers(pos)
            if write(handle, k, left, right, None, None) != 0:
                raise RuntimeError("FluidSynth failed to render")
            pos += k
            count -= k

    fs.system_reset()
    for ch in range(MIDI_CHANNELS):
        fs.cc(ch, 120, 0)  # all sound off
    # Voices stop at the next block: render a stretch into the scratch buffer so nothing rings over.
    left = (ctypes.c_void_p * AUDIO_GROUPS)(*([scratch[0].ctypes.data] * AUDIO_GROUPS))
    right = (ctypes.c_void_p * AUDIO_GROUPS)(*([scratch[1].ctypes.data] * AUDIO_GROUPS))
    write(handle, FLUSH_SAMPLES, left, right, None, None)
    instruments, channels = [], []
    for g, group in enumerate(groups):
        for k, inst in enumerate(group):
            ch = g + k * AUDIO_GROUPS
            set_type(handle, ch, CHANNEL_TYPE_DRUM if inst.is_drum else CHANNEL_TYPE_MELODIC)
            if inst.is_drum:
                fs.program_select(ch, synth.sfid, 128, 0)
            else:
                fs.program_select(ch, synth.sfid, 0, int(inst.program))
            instruments.append(inst)
            channels.append(ch)
    ev = _events(instruments, channels)
    pos = 0
    reported = 0
    for sample, on, ch, pitch, vel in ev:
        sample = min(int(sample), total)
        if sample > pos:
            run(pos, sample - pos)
            pos = sample
            if pos - reported >= 10 * SAMPLE_RATE:
                if cancel is not None:
                    cancel.raise_if_set()
                progress(pos, total, "rendering")
                reported = pos
        if pos >= total:
            break
        if on:
            fs.noteon(int(ch), int(pitch), int(vel))
        else:
            fs.noteoff(int(ch), int(pitch))
    if pos < total:
        run(pos, total - pos)
    y = out[:, :, :n_samples]
    # The 16-bit path clipped at full scale; keep stems in range the same way.
    np.clip(y, -1.0, 1.0, out=y)
    fade = min(n_samples, int(END_FADE_S * SAMPLE_RATE))
    if fade:
        y[:, :, n_samples - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return y


def render_stems(composition, soundfont: str | None = None, progress: ProgressFn = no_progress,
                 cancel: CancelToken | None = None) -> dict[str, Audio]:
    """One stereo 44.1 kHz Audio per stem of a Composition, each exactly `composition.length_s` long.

    The samples are (n, 2) views of one channel-first buffer per pass (all stems render in one pass)."""
    synth = get_synth(soundfont)
    n = int(round(composition.length_s * SAMPLE_RATE))
    out: dict[str, Audio] = {}
    items = list(composition.stems.items())
    per_group = MIDI_CHANNELS // AUDIO_GROUPS
    with synth.lock:
        for first in range(0, len(items), AUDIO_GROUPS):
            batch = items[first:first + AUDIO_GROUPS]
            groups = [[composition.midi.instruments[k] for k in indices] for _, indices in batch]
            if any(len(g) > per_group for g in groups):
                raise ValueError(f"a stem has more than {per_group} instruments")

            def report(done: int, total: int, message: str = "", first: int = first, batch: list = batch) -> None:
                progress(first + len(batch) * done / (total or 1), len(items), message)

            if cancel is not None:
                cancel.raise_if_set()
            y = _render(synth, groups, n, cancel=cancel, progress=report)
            for g, (stem, _) in enumerate(batch):
                out[stem] = Audio(y[g].T, SAMPLE_RATE)
    progress(len(items), len(items), "rendered")
    return out


def render_floor(midi, soundfont: str | None = None) -> Audio:
    """The whole MIDI (every instrument, the vocal line too) rendered plainly into one output: the floor
    of what rendering costs."""
    synth = get_synth(soundfont)
    n = max(int(round(midi.get_end_time() * SAMPLE_RATE)), 1)
    instruments = list(midi.instruments)
    per_group = MIDI_CHANNELS // AUDIO_GROUPS
    groups = [instruments[i:i + per_group] for i in range(0, len(instruments), per_group)] or [[]]
    with synth.lock:
        y = _render(synth, groups[:AUDIO_GROUPS], n).sum(axis=0)
    return Audio(np.ascontiguousarray(y.T), SAMPLE_RATE)
