"""Sung-vocal benchmark: does a cloned voice still say the words when it sings?

    python bench/sung.py [--samples ../shared/samples] [--speakers a,b] [--style heroic_male] [--json]

Per English speaker (every folder of <samples>/voices except German and spoken digits; tests/data
when the shared set is absent): a profile is built from the references as bench/voice.py does, on
the default base (Piper for English) and on the espeak-ng base; each sings four lyric lines, one
note a syllable on a simple tune, and Whisper base transcribes the dry stem. Prints the word error
rate per speaker and path (goal: at most 0.35 on the dry stem) and plain espeak-ng singing for
scale, with the stems' similarity (resemblyzer cosine) to the centroid of the speaker's held-out
recordings, averaged over the four lines. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

LINES = ("the river runs down to the open sea", "every morning I remember your beautiful eyes",
         "we will carry the fire across the silent mountain", "hold my hand and sing with me tonight")
TUNE = (0, 2, 4, 5, 4, 2, 0, 2, 4, 2, 0, 4, 5, 7)
BEAT_S = 0.4


def line_notes(line: str, style: str):
    from engines.music.lyrics import line_syllables
    from engines.music.sing import vocal_range
    from engines.music.types import SungNote

    low = vocal_range(style)[0] + 4
    syllables = line_syllables(line)
    notes, t = [], 0.3
    for k, (syl, word, index) in enumerate(syllables):
        beats = 2 if k == len(syllables) - 1 else 1
        notes.append(SungNote(start_s=round(t, 3), duration_s=BEAT_S * beats, pitch_midi=low + TUNE[k % len(TUNE)],
                              syllable=syl, word=word, syllable_index=index, continues=False, line_index=0,
                              phrase_end=k == len(syllables) - 1))
        t += BEAT_S * beats
    return notes, t + 0.8


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, default=ROOT.parent / "shared" / "samples")
    ap.add_argument("--speakers", default="", help="comma-separated speaker folders (default: all English)")
    ap.add_argument("--style", default="heroic_male")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from bench.voice import speaker_audio
    from core.errors import InputError
    from engines import asr
    from engines.music.sing import sing
    from engines.music.types import Singer
    from engines.voice import clone, reference
    from engines.voice.similarity import mean_embedding, similarity, speaker_embedding
    from settings import Settings

    settings = Settings(models_dir=ROOT / "models")
    voices_dir = args.samples / "voices"
    if not voices_dir.is_dir():
        voices_dir = ROOT / "tests" / "data" / "voices"
    speakers = sorted(p.name for p in voices_dir.iterdir()
                      if p.is_dir() and not p.name.startswith(("thorsten", "fsdd")))
    if args.speakers:
        speakers = [s for s in speakers if s in args.speakers.split(",")]

    def transcribe(audio, language):
        return asr.transcribe(audio, settings, language=language, word_timestamps=True, beam_size=1)

    def sung(singer, centroid) -> tuple[float, float]:
        """(mean WER, mean similarity to the speaker) over the lines."""
        errors, sims = [], []
        for line in LINES:
            notes, length = line_notes(line, args.style)
            stem = sing(notes, singer, args.style, length_s=length, sample_rate_hz=22050)
            errors.append(asr.word_error_rate(line, asr.transcribe(stem, settings, language="en").text))
            sims.append(similarity(speaker_embedding(stem), centroid))
        return statistics.mean(errors), statistics.mean(sims)

    report: dict = {"style": args.style, "speakers": {}}
    for s in speakers:
        row: dict = {}
        report["speakers"][s] = row
        refs, held = speaker_audio(voices_dir / s)
        centroid = mean_embedding([speaker_embedding(a) for a in held])
        try:
            cleaned, _ = reference.prepare_all([(a, f"{s}-{i}") for i, a in enumerate(refs)])
        except InputError as e:
            row["refused"] = str(e)
            continue
        for path in ("auto", "espeak"):
            model = clone.analyse(cleaned, transcribe=transcribe, base=path)
            row[path], row[f"{path}_sim"] = sung(Singer(model=model, label=s), centroid)
        row["plain_espeak"], row["plain_espeak_sim"] = sung(Singer(espeak_voice=model.espeak_voice), centroid)
        print(f"  {s:18s} sung WER / similarity: Piper path {row['auto']:.3f} / {row['auto_sim']:.3f}  "
              f"espeak path {row['espeak']:.3f} / {row['espeak_sim']:.3f}  "
              f"plain espeak {row['plain_espeak']:.3f} / {row['plain_espeak_sim']:.3f}", flush=True)
    rows = [r for r in report["speakers"].values() if "auto" in r]
    if rows:
        keys = ("auto", "espeak", "plain_espeak")
        report["mean"] = {k: round(statistics.mean(r[k] for r in rows), 3) for k in keys}
        report["mean_similarity"] = {k: round(statistics.mean(r[f"{k}_sim"] for r in rows), 3) for k in keys}
        m, sim = report["mean"], report["mean_similarity"]
        print(f"sung vocals, {args.style}, {len(rows)} speakers x {len(LINES)} lines: mean WER / similarity "
              f"Piper path {m['auto']:.3f} / {sim['auto']:.3f}, espeak path {m['espeak']:.3f} / {sim['espeak']:.3f}, "
              f"plain espeak {m['plain_espeak']:.3f} / {sim['plain_espeak']:.3f} (goal: WER <= 0.35)")
    if args.json:
        print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
