"""Licence flags: whether a generation's outputs may be used commercially, read from the licences
of the models that made them (rules in assets/licences.json).

    flag = commercial_use(["CC-BY-NC 4.0 (weights: non-commercial use only); MIT (code)"])
    flag.commercial_use  -> "no"
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

RULES_PATH = Path(__file__).resolve().parents[1] / "assets" / "licences.json"
# Between the licences of the models one output was made with, in a generation's model_licence.
SEPARATOR = " | "
# From least to most restrictive: a generation is as restricted as the most restricted of its models.
ORDER = ("yes", "check", "no")


@dataclass(frozen=True)
class LicenceFlag:
    commercial_use: str  # "yes", "check" or "no"
    why: str
    licences: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        """One line for a person: what they may do with the output, and why."""
        head = {"yes": "Commercial use: allowed", "check": "Commercial use: check the terms first",
                "no": "Commercial use: not allowed"}[self.commercial_use]
        return f"{head} ({self.why})"


@functools.lru_cache(maxsize=1)
def _rules() -> dict:
    data = json.loads(RULES_PATH.read_text(encoding="utf-8"))
    for rule in (*data["rules"], data["none"], data["unknown"]):
        if rule["commercial_use"] not in ORDER:
            raise ValueError(f"{RULES_PATH}: commercial_use must be one of {ORDER}, got {rule['commercial_use']!r}")
    return data


def _has(text: str, words: str) -> bool:
    """`words` occur in `text` as whole words ("mit" is not in "limits")."""
    return re.search(r"(?<![a-z0-9])" + re.escape(words) + r"(?![a-z0-9])", text) is not None


def _one(licence: str) -> tuple[str, str]:
    text = licence.strip().lower()
    data = _rules()
    if not text:
        return data["none"]["commercial_use"], data["none"]["why"]
    for rule in data["rules"]:
        if any(_has(text, w) for w in rule["words"]):
            return rule["commercial_use"], rule["why"]
    return data["unknown"]["commercial_use"], data["unknown"]["why"]


def commercial_use(licences: Iterable[str]) -> LicenceFlag:
    """The flag of outputs made with all of `licences` (their own model's and their inputs'): the most
    restrictive one decides."""
    found = tuple(dict.fromkeys(x.strip() for x in licences if x and x.strip()))
    if not found:
        return LicenceFlag(*_one(""))
    flags = [_one(x) for x in found]
    worst = max(flags, key=lambda f: ORDER.index(f[0]))
    return LicenceFlag(worst[0], worst[1], found)


def join(licences: Iterable[str]) -> str:
    """One model_licence text for outputs made with several models (each licence once, in order)."""
    parts: list[str] = []
    for text in licences:
        for part in (text or "").split(SEPARATOR):
            if part.strip() and part.strip() not in parts:
                parts.append(part.strip())
    return SEPARATOR.join(parts)


def split(model_licence: str) -> list[str]:
    return [p.strip() for p in (model_licence or "").split(SEPARATOR) if p.strip()]
