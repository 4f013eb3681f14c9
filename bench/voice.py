"""Voice benchmark: speed of plain espeak-ng (the floor), the embedded TTS and cloned speech,
and how close cloned speech sounds to its speaker. Prints figures; asserts nothing.

    python bench/voice.py [--samples ../shared/samples] [--json]

Similarity: resemblyzer cosine between a clip and the centroid of the speaker's utterances that
were NOT used as references (real speech of the same speaker scores about 0.96).
Goals (issue 3): RTF at most 0.1 for a 10 s sentence on 2 cores; similarity at least 0.70 on
these speakers, and the clone closer to its own speaker than to the other for every sentence.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

REFERENCES = (0, 1, 2)
SENTENCES = [
    "The old lighthouse keeper walked slowly along the rocky shore at dawn.",
    "Nobody expected the little village band to win the national music prize.",
    "She opened the heavy wooden door and found a garden full of silver roses.",
]
# About ten seconds of speech for the real-time factor.
LONG_SENTENCE = ("When the morning train finally pulled into the quiet station, the passengers gathered "
                 "their bags, stepped onto the cold platform and walked out into the bright winter sunshine.")


def timed(fn, repeat: int = 3):  # noqa: ANN001, ANN201
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, default=ROOT.parent / "shared" / "samples")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from engines.audio import Audio
    from engines.voice import clone, espeak, reference
    from engines.voice.engine import SpeakRequest, VoiceChoice, speak
    from engines.voice.similarity import mean_embedding, similarity, speaker_embedding
    from settings import Settings

    settings = Settings()
    speakers = sorted(p.name for p in (args.samples / "voices").iterdir() if p.is_dir())
    files = {s: sorted((args.samples / "voices" / s).glob("*.flac")) for s in speakers}
    held_out = {s: mean_embedding([speaker_embedding(Audio.read(f)) for i, f in enumerate(files[s])
                                   if i not in REFERENCES]) for s in speakers}

    report: dict = {"speakers": {}, "speed": {}}
    espeak_s, plain = timed(lambda: espeak.synthesize(LONG_SENTENCE, "en-us"))
    report["speed"]["espeak_rtf"] = espeak_s / plain.duration_s
    tts_s, tts = timed(lambda: speak(SpeakRequest(LONG_SENTENCE, VoiceChoice("default")), settings))
    report["speed"]["embedded_tts_rtf"] = tts_s / tts.audio.duration_s
    report["speed"]["sentence_seconds"] = tts.audio.duration_s

    for s in speakers:
        clips = [(Audio.read(files[s][i]), files[s][i].name) for i in REFERENCES]
        t0 = time.perf_counter()
        cleaned, _ = reference.prepare_all(clips)
        model = clone.analyse(cleaned)
        analyse_s = time.perf_counter() - t0
        others = [o for o in speakers if o != s]
        rows = []
        for sentence in SENTENCES:
            cloned = clone.speak_as(sentence, model)
            emb = speaker_embedding(cloned)
            base = speaker_embedding(espeak.synthesize(sentence, "en-us"))
            rows.append({
                "sentence": sentence,
                "own": similarity(emb, held_out[s]),
                "other": max(similarity(emb, held_out[o]) for o in others) if others else None,
                "plain_espeak": similarity(base, held_out[s]),
                "seconds": cloned.duration_s,
            })
        clone_s, cloned_long = timed(lambda: clone.speak_as(LONG_SENTENCE, model))
        report["speakers"][s] = {
            "base_voice": model.base_voice, "analyse_seconds": analyse_s, "rows": rows,
            "clone_rtf": clone_s / cloned_long.duration_s,
            "engine_rtf": None,
        }
        choice = VoiceChoice(s, model=model, embedding=held_out[s])
        eng_s, eng = timed(lambda: speak(SpeakRequest(LONG_SENTENCE, choice), settings), repeat=2)
        report["speakers"][s]["engine_rtf"] = eng_s / eng.audio.duration_s

    if args.json:
        print(json.dumps(report, indent=2))
        return report
    sp = report["speed"]
    print(f"Voice benchmark ({os.cpu_count()} CPUs); a {sp['sentence_seconds']:.1f} s sentence")
    print(f"  real-time factor  plain espeak-ng (floor): {sp['espeak_rtf']:.4f}")
    print(f"  real-time factor  embedded TTS (sentences, style, loudness): {sp['embedded_tts_rtf']:.4f}")
    for s, r in report["speakers"].items():
        print(f"  real-time factor  cloned speech, {s}: conversion {r['clone_rtf']:.4f}, "
              f"whole speak() {r['engine_rtf']:.4f}   (goal <= 0.1; XTTS-v2 on a GPU ~0.25)")
    print()
    print(f"{'speaker':<18} {'base voice':<12} {'own':>6} {'other':>6} {'espeak':>7} {'len s':>6}  sentence")
    owns, wins = [], []
    for s, r in report["speakers"].items():
        for row in r["rows"]:
            owns.append(row["own"])
            wins.append(row["other"] is None or row["own"] > row["other"])
            print(f"{s:<18} {r['base_voice']:<12} {row['own']:6.3f} {row['other'] or 0:6.3f} "
                  f"{row['plain_espeak']:7.3f} {row['seconds']:6.2f}  {row['sentence'][:48]}")
        print(f"{'':<18} analysed references in {r['analyse_seconds']:.1f} s")
    print()
    print(f"similarity to own speaker: mean {statistics.mean(owns):.3f}, min {min(owns):.3f} (goal >= 0.70); "
          f"closer to own than other in {sum(wins)}/{len(wins)} sentences")
    return report


if __name__ == "__main__":
    main()
