"""Word error rate between a text and what the recogniser heard, after light normalisation
(case, punctuation, hyphens, numerals spelled out) so only real word differences count."""

from __future__ import annotations

import re
import unicodedata

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _number_words(n: int) -> str:
    """English words for 0 <= n < 1,000,000 ("1998" is read as a year: nineteen ninety eight)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if 1100 <= n < 2000 or (2010 <= n < 2100):  # years
        hi, lo = divmod(n, 100)
        return _number_words(hi) + " " + ("hundred" if lo == 0 else _number_words(lo) if lo >= 10
                                          else "oh " + _ONES[lo])
    if n < 1000:
        h, r = divmod(n, 100)
        return _ONES[h] + " hundred" + ("" if r == 0 else " " + _number_words(r))
    th, r = divmod(n, 1000)
    return _number_words(th) + " thousand" + ("" if r == 0 else " " + _number_words(r))


def normalise_words(text: str) -> list[str]:
    """Lower-case words without punctuation; numerals become words; accents are kept."""
    t = unicodedata.normalize("NFKC", text).lower()
    t = re.sub(r"(?<=\d),(?=\d{3})", "", t)  # 1,000 -> 1000
    t = re.sub(r"\d+", lambda m: " " + (_number_words(int(m.group())) if len(m.group()) <= 6
                                        else " ".join(_ONES[int(d)] for d in m.group())) + " ", t)
    t = t.replace("’", "'").replace("-", " ")
    t = re.sub(r"[^\w\s']", " ", t)
    t = re.sub(r"(?<!\w)'|'(?!\w)", " ", t)
    return t.split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words of the reference; 0 is perfect.
    An empty reference gives 0 for an empty hypothesis and 1 otherwise."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    import jiwer

    return float(jiwer.wer(" ".join(ref), " ".join(hyp) if hyp else ""))
