"""Scripts for clone videos: an idea -> a structured script (title, hook, 3-5 points, close) to be spoken.

    text = write_script(ScriptRequest(idea="why bees matter", kind="explainer", length_s=60), settings, llm)

The script is a slide outline (engines.slides.outline's format), so the same text is the explainer's slides
and the narration, and a person can edit it:

    # Title
    The hook, shown under the title.
    Notes: what is said over the title (the hook).
    ## A point
    - what the slide shows
    Notes: what is said over it.
    ...

With a language model configured (engines.llm) it writes the script; without one the offline writer
builds it: from a pasted text by picking its sentences (extractive, nothing invented), and from a short
topic by a fixed structure (what it is, why it matters, how it works, what to do) worded around the topic,
sized to the length. An idea that already is a script (has '## ' headings) is used as it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import EngineError, InputError

# What a clone video can be.
KINDS = ("explainer", "announcement")
# Length of a clone video, seconds.
LENGTH_RANGE_S = (10.0, 300.0)
# Words spoken per second at the studio's natural pace: its voices (the Piper voice and clones made with it)
# speak an offline script at 3.37 words a second (measured), faster than the 150 words a minute of a person.
WORDS_PER_S = 3.3
# Longest idea accepted, characters (a pasted text may be long).
MAX_IDEA_CHARS = 100_000
# Points of a script: by length, 3 to 5.
MIN_POINTS, MAX_POINTS = 3, 5

LlmFn = Callable[[object, str, str], str]


@dataclass(frozen=True)
class ScriptRequest:
    # A topic ("why bees matter"), a pasted text, or a script (outline) to use as it is.
    idea: str
    kind: str = "explainer"
    # The video's length aimed at, seconds.
    length_s: float = 60.0
    # Of that, the seconds spoken (the rest: pauses between parts, an end card); None: all of it.
    spoken_s: float | None = None

    @property
    def words(self) -> int:
        """Words the script's Notes add up to."""
        return int((self.length_s if self.spoken_s is None else self.spoken_s) * WORDS_PER_S)


def check_request(req: ScriptRequest) -> ScriptRequest:
    idea = str(req.idea or "").strip()
    if not idea:
        raise InputError("the idea is empty: say what the video is about, e.g. 'why bees matter for our food', "
                         "or paste a text or a script")
    if len(idea) > MAX_IDEA_CHARS:
        raise InputError(f"the idea has {len(idea):,} characters; at most {MAX_IDEA_CHARS:,}")
    if req.kind not in KINDS:
        raise InputError(f"kind {req.kind!r} is not offered: use one of {', '.join(KINDS)}")
    try:
        length = float(req.length_s)
    except (TypeError, ValueError):
        raise InputError(f"length_s must be a number of seconds; got {req.length_s!r}") from None
    lo, hi = LENGTH_RANGE_S
    if not (math.isfinite(length) and lo <= length <= hi):
        raise InputError(f"length_s is {req.length_s}: a clone video is {lo:g} to {hi:g} seconds long")
    spoken = None if req.spoken_s is None else min(length, max(0.5 * length, float(req.spoken_s)))
    return ScriptRequest(idea, req.kind, length, spoken)


def is_script(text: str) -> bool:
    """True when the idea is already a script (a slide outline with '## ' headings)."""
    return any(line.startswith("## ") for line in str(text).splitlines())


def points_for(length_s: float) -> int:
    """How many points a script of this length makes: 3 up to 40 s, 4 up to 80 s, then 5."""
    return MIN_POINTS if length_s <= 40 else 4 if length_s <= 80 else MAX_POINTS


SYSTEM_PROMPT = (
    "You write scripts for short videos in which a presenter speaks to camera. Output only a Markdown outline: "
    "'# Title', one short line (the hook) under it, then 'Notes: ' with the spoken hook; then one '## Heading' "
    "per point with 2 or 3 '- ' bullets (a few words each) and 'Notes: ' with what the presenter says; then a "
    "last '## In short' slide with 'Notes: ' closing the video. Plain spoken sentences, no stage directions, "
    "no emojis, real facts only.")


def _llm_user(req: ScriptRequest) -> str:
    kind = {"explainer": "an explainer", "announcement": "an announcement"}[req.kind]
    spoken = req.length_s if req.spoken_s is None else req.spoken_s
    return (f"Idea: {req.idea}\nWrite {kind} with {points_for(req.length_s)} points. All the Notes together "
            f"are about {req.words} words ({spoken:.0f} seconds spoken).")


def write_script(req: ScriptRequest, settings=None, llm: LlmFn | None = None) -> str:
    """The script (outline text) for a request. `llm(settings, system, user) -> str`: a language model,
    or None for the offline writer. An idea that already is a script is returned as it is."""
    req = check_request(req)
    if is_script(req.idea):
        return req.idea.strip() + "\n"
    if llm is not None:
        answer = (llm(settings, SYSTEM_PROMPT, _llm_user(req)) or "").strip()
        text = re.sub(r"^```(?:markdown|md)?\s*\n|\n```\s*$", "", answer)
        if not is_script(text):
            raise EngineError("the language model did not return a script with '## ' points; try again, or "
                              "write the script yourself")
        if not text.lstrip().startswith("# "):
            text = f"# {_title(req.idea)}\n\n{text}"
        return text.strip() + "\n"
    return write_offline(req)


# ----------------------------------------------------------------- the offline writer

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(re.sub(r"\s+", " ", text)) if s.strip()]


def _title(idea: str) -> str:
    t = re.sub(r"\s+", " ", idea).strip().rstrip(".!?:;,")
    if len(t) > 70:
        t = t[:70].rsplit(" ", 1)[0]
    return t[:1].upper() + t[1:]


def _topic(idea: str) -> str:
    """The idea as a phrase inside a sentence: 'Why bees matter' -> 'why bees matter'."""
    t = _title(idea)
    words = t.split(" ")
    if words and not (len(words[0]) > 1 and words[0].isupper()):  # keep acronyms ("NASA")
        words[0] = words[0][:1].lower() + words[0][1:]
    return " ".join(words)


def _words(text: str) -> int:
    return len(text.split())


# Each point: its heading, its slide bullets, and sentences in the order they are used (as many as the
# length asks). "{t}" is the topic as a phrase.
_POINTS = (
    ("What it is", ("The idea in one line", "Where you meet it"),
     ("First, the basics of {t}.",
      "Put simply, it is something most of us meet every day without noticing.",
      "Once you see it, you start to notice it everywhere.",
      "It has a long history, and it keeps changing as we learn more.",
      "Knowing the basics makes the rest of this much easier to follow.")),
    ("Why it matters", ("What changes because of it", "Who it affects"),
     ("Why does it matter?",
      "Because it shapes choices we make every day, and small choices add up.",
      "It affects more people than you might expect.",
      "Ignore it, and the costs show up later, often where nobody looked.",
      "Pay attention, and it becomes something you can use to your advantage.")),
    ("How it works", ("The key steps", "What drives the result"),
     ("So how does it work?",
      "There are a few key steps, and each one builds on the last.",
      "Get the first step right and the rest follows.",
      "Each step has a reason behind it, and the reasons connect.",
      "When one step is skipped, you can usually see it in the result.")),
    ("What you can do", ("One thing to try this week", "Where to learn more"),
     ("What can you do about it?",
      "Start small: pick one thing to try this week.",
      "Then look for a good source and learn a little more.",
      "Talk about it with a friend: explaining it is the best way to learn it.",
      "Small, steady steps beat one big effort that fades.")),
    ("A common mistake", ("What people get wrong", "How to avoid it"),
     ("One common mistake is to think it is too complicated to understand.",
      "It is not: the core idea fits in a sentence.",
      "Keep that sentence in mind and the details make sense.",
      "Another mistake is to copy what others do without asking why.",
      "Ask why, and you will know when the usual advice does not fit.")),
)


def _hook(req: ScriptRequest) -> str:
    if req.kind == "announcement":
        return f"We have news to share about {_topic(req.idea)}."
    return f"Here is {_topic(req.idea)}, in about {_duration_words(req.length_s)}."


def _duration_words(s: float) -> str:
    return f"{int(round(s))} seconds" if s < 90 else f"{max(2, round(s / 60))} minutes"


def _close(req: ScriptRequest) -> str:
    if req.kind == "announcement":
        return "That is the news. Share it with someone who should hear it."
    return f"That is the short version of {_topic(req.idea)}. Thanks for watching."


def _fill(req: ScriptRequest, n_points: int, budget: int) -> list[list[str]]:
    """The sentences of each point: round-robin, one more sentence per point while the words fit."""
    t = _topic(req.idea)
    chosen: list[list[str]] = [[] for _ in range(n_points)]
    used = 0
    for k in range(len(_POINTS[0][2])):
        for i in range(n_points):
            s = _POINTS[i][2][k].format(t=t)
            if k > 0 and used + _words(s) > budget:
                return chosen
            chosen[i].append(s)
            used += _words(s)
    return chosen


def _from_text(req: ScriptRequest, n_points: int, budget: int) -> tuple[str, list[tuple[str, list[str], str]]]:
    """Points picked from a pasted text: consecutive sentences, its own words, within the budget."""
    sents = _sentences(req.idea)
    if len(sents) < 2:
        raise InputError("the text has too few sentences to make points from; paste more, or give a topic")
    title = _title(sents[0])
    body = sents[1:] or sents
    n = max(1, min(n_points, len(body)))
    per = max(1, budget // n)
    groups = [body[round(i * len(body) / n):round((i + 1) * len(body) / n)] for i in range(n)]
    points = []
    for g in groups:
        said: list[str] = []
        for s in g:
            if said and _words(" ".join(said)) + _words(s) > per:
                break
            said.append(s)
        heading = _title(" ".join(said[0].split()[:6]))
        bullets = [_title(" ".join(s.split()[:8])) for s in said[:3]]
        points.append((heading, bullets, " ".join(said)))
    return title, points


def write_offline(req: ScriptRequest) -> str:
    req = check_request(req)
    n_points = points_for(req.length_s)
    hook, close = _hook(req), _close(req)
    budget = max(n_points * 6, req.words - _words(hook) - _words(close))
    if len(_sentences(req.idea)) >= 3 or "\n\n" in req.idea.strip():
        title, points = _from_text(req, n_points, budget)
        hook = f"Here is {title[:1].lower() + title[1:]}." if req.kind != "announcement" else hook
    else:
        title = _title(req.idea)
        fills = _fill(req, n_points, budget)
        points = [(_POINTS[i][0], list(_POINTS[i][1]), " ".join(fills[i])) for i in range(n_points)]
    out = [f"# {title}", hook, f"Notes: {hook}", ""]
    for heading, bullets, said in points:
        out.append(f"## {heading}")
        out.extend(f"- {b}" for b in bullets)
        out.append(f"Notes: {said}")
        out.append("")
    out += ["## In short", f"- {title}", f"Notes: {close}", ""]
    return "\n".join(out)
