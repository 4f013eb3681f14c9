"""Speaker notes written from a slide's content, for slides whose author gave none.

The notes are read aloud by the narration, so they are plain spoken sentences:
"This slide covers pricing. First, ...; second, ...; and finally, ...".
"""

from __future__ import annotations

import re

from engines.slides.deck import Slide

_ORDINALS = ("First", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def clean_inline(text: str) -> str:
    """Markdown inline marks removed: **bold**, *em*, `code`, [text](link) -> plain text."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])", r"\1", text)
    text = text.replace("`", "")
    return re.sub(r"\s+", " ", text).strip()


def _phrase(text: str) -> str:
    """A bullet as a clause: no trailing punctuation, first letter kept."""
    return clean_inline(text).rstrip(" .;:!?,")


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _join_and(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0").rstrip(".")


def _bullet_points(slide: Slide) -> str:
    """Top-level bullets as "First, a (x and y); second, b; and finally, c"."""
    groups: list[tuple[str, list[str]]] = []
    for b in slide.bullets:
        if b.level == 0 or not groups:
            groups.append((_phrase(b.text), []))
        else:
            groups[-1][1].append(_phrase(b.text))
    parts = []
    for i, (head, subs) in enumerate(groups):
        if subs:
            head = f"{head}, with {_join_and(subs)}"
        if len(groups) == 1:
            parts.append(head)
        elif i == len(groups) - 1:
            parts.append(f"and finally, {head}")
        else:
            parts.append(f"{_ORDINALS[i] if i < len(_ORDINALS) else 'next'}, {head}")
    return "; ".join(parts)


def auto_notes(slide: Slide, deck_title: str = "") -> str:
    """One or two readable spoken sentences describing `slide`."""
    title = _phrase(slide.title)
    about = f"This slide covers {title}." if title else ""
    points = _bullet_points(slide) if slide.bullets else ""
    if slide.kind == "title":
        sub = _phrase(slide.bullets[0].text) if slide.bullets else ""
        return " ".join(filter(None, [f"Welcome to {title or _phrase(deck_title)}.", _sentence(sub)]))
    if slide.kind == "section":
        return f"Next, we turn to {title}." if title else "Now we move on to the next part."
    if slide.kind == "quote":
        quote = _phrase(slide.quote)
        who = _phrase(slide.attribution)
        return f"As {who} put it: {_sentence(quote)}" if who else f"Consider this: {_sentence(quote)}"
    if slide.kind == "table" and slide.table:
        header = [_phrase(c) for c in slide.table[0] if _phrase(c)]
        rows = [r[0] for r in slide.table[1:] if r and _phrase(r[0])]
        text = f"{about} The table compares {_join_and(header[1:] or header)}"
        if rows:
            shown = [_phrase(r) for r in rows[:4]]
            text += f" for {_join_and(shown)}" + (" and more" if len(rows) > 4 else "")
        return (text + ".").strip()
    if slide.kind == "chart" and slide.chart:
        c = slide.chart
        name, values = c.series[0]
        top = max(range(len(values)), key=lambda i: values[i])
        what = _join_and([_phrase(n) for n, _ in c.series])
        text = (f"{about} This {c.kind} chart shows {what} for {_join_and([_phrase(lb) for lb in c.labels])}. "
                f"{_sentence(_phrase(name))[:-1]} peaks at {_phrase(c.labels[top])}, with {_number(values[top])}.")
        return text.strip()
    if slide.kind == "image":
        lead = about or "This slide shows a picture."
        return " ".join(filter(None, [lead, _sentence(points)]))
    if points:
        return " ".join(filter(None, [about, _sentence(points)]))
    return about or "This slide has no text."
