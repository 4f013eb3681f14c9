"""Ratings and "suggested for you": each output can be rated 1-5 with tags, and per user and kind of
generation the parameters they rate highest are suggested, with the reason in their own figures.

The model is a Bayesian average per parameter value (numbers grouped in the buckets of
assets/preferences.json): a value's score is its ratings' sum plus PRIOR_WEIGHT ratings at the user's
own mean (itself drawn toward NEUTRAL_STARS while they have rated little), over their count plus
PRIOR_WEIGHT, so one lucky rating does not outweigh a habit. A value
is suggested over the default when it has at least MIN_RATINGS ratings and scores MIN_GAIN stars
above the default's value; otherwise the default stays. Tags that name a direction ("too fast") on
ratings of the suggested value's bucket nudge the suggested number (assets/rating_tags.json).
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.errors import InputError
from storage.library import ANONYMOUS, Actor, Library

ASSETS = Path(__file__).resolve().parents[1] / "assets"
# The user's own mean rating counts as this many ratings of every value.
PRIOR_WEIGHT = 2.0
# A value is suggested only with this many ratings ...
MIN_RATINGS = 2
# ... and this many stars (Bayesian average) above the default's value.
MIN_GAIN = 0.3
# The mean rating assumed before a user has rated anything.
NEUTRAL_STARS = 3.0


@functools.lru_cache(maxsize=1)
def _presets() -> dict:
    return json.loads((ASSETS / "preferences.json").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def rating_tags() -> dict[str, dict]:
    return json.loads((ASSETS / "rating_tags.json").read_text(encoding="utf-8"))["tags"]


@dataclass(frozen=True)
class Suggestion:
    kind: str
    param: str
    label: str
    value: Any
    default: Any
    reason: str
    ratings: int

    def to_json(self) -> dict:
        return asdict(self)


def check_rating(stars, tags) -> tuple[int, list[str]]:
    """Stars as a whole number 1-5 and tags from rating_tags(), or a clear refusal."""
    if isinstance(stars, bool) or not isinstance(stars, (int, float)) or float(stars) != int(stars) \
            or not 1 <= int(stars) <= 5:
        raise InputError(f"stars must be a whole number from 1 to 5; got {stars!r}")
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    tags = list(dict.fromkeys(str(t).strip().lower() for t in (tags or [])))
    unknown = [t for t in tags if t not in rating_tags()]
    if unknown:
        raise InputError(f"unknown rating tag {unknown[0]!r}; tags are: {', '.join(rating_tags())}")
    return int(stars), tags


def _bucket(value: float, bounds: list[float]) -> int:
    return next((i for i, b in enumerate(bounds) if value <= b), len(bounds))


def _describe(values: list, numeric: bool) -> str:
    if not numeric:
        return repr(values[0]) if values else "?"
    lo, hi = min(values), max(values)
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def suggest(kind: str, history: list[tuple[dict, int, list[str]]]) -> list[Suggestion]:
    """The suggestion per parameter of `kind` from a user's (parameters, stars, tags) history."""
    specs = _presets().get(kind, [])
    # The user's mean, drawn toward neutral while they have rated little.
    mean = (sum(s for _, s, _ in history) + PRIOR_WEIGHT * NEUTRAL_STARS) / (len(history) + PRIOR_WEIGHT)
    out = []
    for spec in specs:
        param, label, default = spec["param"], spec["label"], spec["default"]
        bounds = spec.get("buckets")
        rated = [(p[param], s) for p, s, _ in history if p.get(param) is not None]
        groups: dict[Any, list[tuple[Any, int]]] = {}
        for value, stars in rated:
            key = _bucket(float(value), bounds) if bounds else value
            groups.setdefault(key, []).append((value, stars))

        def score(key, groups=groups) -> float:
            items = groups.get(key, [])
            return (PRIOR_WEIGHT * mean + sum(s for _, s in items)) / (PRIOR_WEIGHT + len(items))

        default_key = _bucket(float(default), bounds) if bounds else default
        candidates = [k for k, items in groups.items() if len(items) >= MIN_RATINGS]
        best = max(candidates, key=score, default=None)
        value, reason = default, ("no ratings yet: the default" if not rated else
                                  f"your ratings do not favour another {label} yet: the default")
        chosen = default_key
        if best is not None and best != default_key and score(best) - score(default_key) >= MIN_GAIN:
            chosen = best
            items = groups[best]
            values = [v for v, _ in items]
            value = round(sum(values) / len(values), 2) if bounds else values[0]
            best_mean = sum(s for _, s in items) / len(items)
            base = groups.get(default_key)
            against = (f"{_describe([v for v, _ in base], bool(bounds))} {sum(s for _, s in base) / len(base):.1f}"
                       if base else f"your average {mean:.1f} for the default {default}")
            reason = (f"you rated {label} {_describe(values, bool(bounds))} {best_mean:.1f} "
                      f"({len(items)} ratings) against {against}")
        if bounds:  # tags on ratings of the chosen value's bucket ("too fast" at this speed)
            nudges = [(t, rating_tags()[t]["nudge"]) for p, _, tags in history for t in tags
                      if rating_tags().get(t, {}).get("param") == param and p.get(param) is not None
                      and _bucket(float(p[param]), bounds) == chosen]
            if len(nudges) >= MIN_RATINGS:
                value = round(float(value) + sum(n for _, n in nudges) / len(nudges) * min(len(nudges), 4), 2)
                named = sorted({t for t, _ in nudges})
                reason += f"; nudged by your tags ({', '.join(named)}, {len(nudges)} times)"
        out.append(Suggestion(kind, param, label, value, default, reason, len(rated)))
    return out


def rate(library: Library, generation_id, stars, tags=(), actor: Actor = ANONYMOUS) -> dict:
    stars, tags = check_rating(stars, tags)
    r = library.save_rating(generation_id, stars, tags, actor)
    return {"generation_id": r.generation_id, "stars": r.stars, "tags": r.tags}


def suggestions(library: Library, kind: str, actor: Actor = ANONYMOUS) -> list[Suggestion]:
    if kind.startswith("_") or kind not in _presets():
        raise InputError(f"no suggestions for {kind!r}; kinds: {', '.join(k for k in _presets() if k[0] != '_')}")
    return suggest(kind, library.rating_history(kind, actor))
