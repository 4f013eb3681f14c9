"""Voice benchmark: does a cloned voice say the words, and whom does it sound like? And how fast.

    python bench/voice.py [--samples ../shared/samples] [--speakers a,b] [--json]

Per real speaker (every folder of <samples>/voices; tests/data when the shared set is absent):
the first clips (up to 3, or 10 s) are the references, checked and cleaned as uploads are; the
others are held out. The clone speaks new sentences (never the references' text), and for each:
  * WER: Whisper base word error rate of what it says (English; German in German);
  * own: resemblyzer cosine to the centroid of the speaker's held-out utterances (real speech of
    the same speaker scores about 0.9 here); other: the highest cosine to another speaker;
    id: whether the clone is closer to its speaker than to every other.
The same for the espeak-ng base voice ("espeak path"), and the plain base voices for scale.
Speed: real-time factors of the Piper base voice, of speaking with a profile (goal <= 0.1), and
seconds of analysis per second of reference (goal <= 0.5). Prints figures; asserts nothing.
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

ENGLISH = [
    "A lighthouse keeper once wrote that the sea has no memory, "
    "but every storm leaves a mark on the rocks below the lamp.",
    "Nobody expected the little village band to win the national music prize.",
    "She opened the heavy wooden door and found a garden full of silver roses.",
    "The train was late, so we bought hot coffee and waited by the window.",
]
GERMAN = [
    "Der alte Leuchtturm steht seit vielen Jahren am Rand der Klippe.",
    "Am Morgen kaufen wir frisches Brot und warten auf den Zug.",
    "Sie öffnete die schwere Tür und fand einen Garten voller Rosen.",
]
# About ten seconds of speech for the real-time factors.
LONG_SENTENCE = ("When the morning train finally pulled into the quiet station, the passengers gathered "
                 "their bags, stepped onto the cold platform and walked out into the bright winter sunshine.")


def timed(fn, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def speaker_audio(folder: Path):
    """(references, held-out) Audio lists. Spoken digits are joined ten at a time into clips."""
    import numpy as np

    from core.audio import Audio

    files = sorted(p for p in folder.iterdir() if p.suffix in (".wav", ".flac", ".ogg"))
    audio = [Audio.read(p).mono() for p in files]
    if all(a.duration_s < 1.2 for a in audio) and len(audio) >= 20:  # isolated digits
        rate = 16_000
        gap = np.zeros(int(0.3 * rate), np.float32)
        groups = [Audio(np.concatenate([x for a in audio[i:i + 10] for x in (a.resampled(rate).samples, gap)]), rate)
                  for i in range(0, len(audio), 10)]
        return groups[:3], groups[3:]
    if len(audio) == 1:  # one long file: cut at the quietest point in its second half
        a = audio[0]
        hop = a.sample_rate // 100
        env = np.sqrt(np.mean(a.samples[: len(a.samples) // hop * hop].reshape(-1, hop) ** 2, axis=1))
        lo, hi = int(len(env) * 0.55), int(len(env) * 0.75)
        cut = (lo + int(np.argmin(env[lo:hi]))) * hop
        return [Audio(a.samples[:cut], a.sample_rate)], [Audio(a.samples[cut:], a.sample_rate)]
    refs, total = [], 0.0
    for a in audio[:-1]:
        refs.append(a)
        total += a.duration_s
        if total >= 10.0 or len(refs) == 3:
            break
    return refs, audio[len(refs):]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, default=ROOT.parent / "shared" / "samples")
    ap.add_argument("--speakers", default="", help="comma-separated speaker folders (default: all)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import numpy as np

    from core.errors import InputError
    from engines import asr
    from engines.voice import clone, espeak, piper, reference
    from engines.voice.engine import SpeakRequest, VoiceChoice, speak
    from engines.voice.similarity import mean_embedding, similarity, speaker_embedding
    from services import make_backends
    from settings import Settings

    settings = Settings(models_dir=ROOT / "models")
    backends = make_backends()
    voices_dir = args.samples / "voices"
    if not voices_dir.is_dir():
        voices_dir = ROOT / "tests" / "data" / "voices"
    speakers = sorted(p.name for p in voices_dir.iterdir() if p.is_dir())
    if args.speakers:
        speakers = [s for s in speakers if s in args.speakers.split(",")]
    base = piper.find_voice()

    def transcribe(audio, language):
        return asr.transcribe(audio, settings, language=language, word_timestamps=True, beam_size=1)

    report: dict = {"speed": {}, "speakers": {}}
    speaker_embedding(piper.synthesize("Warm up the encoder.", base))
    t, plain = timed(lambda: piper.synthesize(LONG_SENTENCE, base))
    report["speed"]["piper_rtf"] = t / plain.duration_s
    t, plain = timed(lambda: espeak.synthesize(LONG_SENTENCE, "en-us"))
    report["speed"]["espeak_rtf"] = t / plain.duration_s

    data = {}
    for s in speakers:
        refs, held = speaker_audio(voices_dir / s)
        data[s] = {"refs": refs, "centroid": mean_embedding([speaker_embedding(a) for a in held])}

    for s in speakers:
        row: dict = {}
        report["speakers"][s] = row
        try:
            cleaned, _ = reference.prepare_all([(a, f"{s}-{i}") for i, a in enumerate(data[s]["refs"])])
        except InputError as e:
            row["refused"] = str(e)
            continue
        ref_s = sum(a.duration_s for a in cleaned)
        for path in ("auto", "espeak"):
            t0 = time.perf_counter()
            model = clone.analyse(cleaned, transcribe=transcribe, base=path)
            build_s = time.perf_counter() - t0
            if path == "espeak" and model.base_voice == row.get("auto", {}).get("base_voice"):
                continue  # other languages speak through espeak-ng already
            lang = model.language
            sentences = GERMAN if lang == "de" else ENGLISH
            outs = [clone.speak_as(text, model) for text in sentences]
            wers, owns, others, ids = [], [], [], []
            for text, out in zip(sentences, outs):
                heard = asr.transcribe(out, settings, language=lang).text
                wers.append(asr.word_error_rate(text, heard))
                emb = speaker_embedding(out)
                owns.append(similarity(emb, data[s]["centroid"]))
                rest = [similarity(emb, data[o]["centroid"]) for o in speakers if o != s]
                others.append(max(rest) if rest else 0.0)
                ids.append(owns[-1] > others[-1])
            plain_voice = (lambda x: piper.synthesize(x, base)) if model.base_voice == clone.PIPER_SOURCE else \
                (lambda x, voice=model.base_voice: espeak.synthesize(x, voice))
            plain_wer = statistics.mean(
                asr.word_error_rate(x, asr.transcribe(plain_voice(x), settings, language=lang).text) for x in sentences)
            plain_sim = statistics.mean(similarity(speaker_embedding(plain_voice(x)), data[s]["centroid"])
                                        for x in sentences)
            row[path] = {
                "base_voice": model.base_voice, "language": lang, "warp": model.warp,
                "reference_s": round(ref_s, 1), "build_s_per_ref_s": build_s / ref_s,
                "wer": statistics.mean(wers), "own": statistics.mean(owns), "other": statistics.mean(others),
                "identified": f"{sum(ids)}/{len(ids)}", "plain_wer": plain_wer, "plain_own": plain_sim,
            }
            if path == "auto":
                choice = VoiceChoice(s, language=lang, model=model, embedding=model.reference_embedding)
                req = SpeakRequest(LONG_SENTENCE if lang == "en" else " ".join(GERMAN), choice, check_words=False)
                t, res = timed(lambda req=req: speak(req, settings, backends=backends), repeat=2)
                row[path]["speak_rtf"] = t / res.audio.duration_s
            print(f"  {s} ({path}) done", file=sys.stderr, flush=True)

    if args.json:
        print(json.dumps(report, indent=2, default=float))
        return report
    sp = report["speed"]
    print(f"Voice benchmark ({os.cpu_count()} CPUs)")
    print(f"  real-time factor, Piper base voice: {sp['piper_rtf']:.3f}; espeak-ng: {sp['espeak_rtf']:.3f}")
    print()
    head = (f"{'speaker':<18} {'path':<7} {'base':<8} {'lang':<4} {'WER':>5} {'own':>6} {'other':>6} {'id':>4} "
            f"{'plainWER':>8} {'plainOwn':>8} {'warp':>5} {'build s/s':>9} {'speak RTF':>9}")
    print(head)
    summary: dict[str, list] = {"auto": [], "espeak": []}
    for s, row in report["speakers"].items():
        if "refused" in row:
            print(f"{s:<18} refused: {row['refused']}")
            continue
        for path in ("auto", "espeak"):
            r = row.get(path)
            if not r:
                continue
            summary[path].append((s, r))
            rtf = f"{r['speak_rtf']:.3f}" if "speak_rtf" in r else ""
            print(f"{s:<18} {path:<7} {r['base_voice']:<8} {r['language']:<4} {r['wer']:5.2f} {r['own']:6.3f} "
                  f"{r['other']:6.3f} {r['identified']:>4} {r['plain_wer']:8.2f} {r['plain_own']:8.3f} "
                  f"{r['warp']:5.2f} {r['build_s_per_ref_s']:9.2f} {rtf:>9}")
    print()
    for path, rows in summary.items():
        en = [r for s, r in rows if r["language"] == "en" and not s.startswith("fsdd")]
        if not en:
            continue
        ids = sum(int(r["identified"].split("/")[0]) for r in en)
        n = sum(int(r["identified"].split("/")[1]) for r in en)
        print(f"{path:>6} path, English read speech ({len(en)} speakers): WER {np.mean([r['wer'] for r in en]):.3f} "
              f"(goal <= 0.10; base voice {np.mean([r['plain_wer'] for r in en]):.3f}), similarity "
              f"{np.mean([r['own'] for r in en]):.3f} (goal >= 0.75; "
              f"base voice {np.mean([r['plain_own'] for r in en]):.3f}), "
              f"closer to own speaker than to every other in {ids}/{n}")
        if path == "auto":
            print(f"        analysis {np.mean([r['build_s_per_ref_s'] for r in en]):.2f} s per second of reference "
                  f"(goal <= 0.5); speaking with a profile RTF "
                  f"{np.mean([r['speak_rtf'] for r in en]):.3f} (goal <= 0.1)")
    return report


if __name__ == "__main__":
    main()
