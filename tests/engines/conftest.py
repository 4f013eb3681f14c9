"""Shared by the engines' tests: real speakers' cloned voices, analysed once per test session."""

from __future__ import annotations

from core.audio import Audio
from tests.conftest import voice_clips

_CLONED: dict = {}


def cloned_speaker(speaker: str, settings):
    """(the speaker's voice model from their first three recordings, the centroid of the speaker embeddings of
    the others): the voice cloning and singing tests ask for the same speakers, and an analysis (Whisper on
    the references, WORLD) takes several seconds."""
    if speaker not in _CLONED:
        from engines import asr
        from engines.voice import clone
        from engines.voice.similarity import mean_embedding, speaker_embedding

        clips = [Audio.read(p) for p in voice_clips(speaker)]
        assert len(clips) >= 6, speaker
        model = clone.analyse(clips[:3], transcribe=lambda audio, language: asr.transcribe(
            audio, settings, language=language, word_timestamps=True, beam_size=1))
        _CLONED[speaker] = model, mean_embedding([speaker_embedding(c) for c in clips[3:]])
    return _CLONED[speaker]
