"""Narration progress and cancellation; charts drawn at 150 dpi in the theme's colours."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.audio import Audio
from core.errors import Cancelled, InputError
from core.progress import CancelToken
from engines.slides.charts import CHART_DPI, render_chart
from engines.slides.deck import ChartSpec, Deck, Slide
from engines.slides.narration import PAUSE_S, SILENT_SLIDE_S, narrate
from engines.slides.themes import get_theme, rgb
from engines.voice.espeak import synthesize

DECK = Deck("Talk", slides=(Slide("title", "Talk", notes="Hello and welcome."),
                            Slide("bullets", "Empty", notes=""),
                            Slide("bullets", "End", notes="Thank you.")))


def test_narration_reports_progress_per_slide_and_times_silent_slides():
    seen = []
    n = narrate(DECK, synthesize, progress=lambda d, t, m="": seen.append((d, t, m)))
    assert [d for d, _, _ in seen] == [0, 1, 2, 3] and all(t == 3 for _, t, _ in seen)
    assert seen[1][2] == "narrating slide 2 of 3"
    assert n.clips[1] is None
    assert n.durations_s[1] == pytest.approx(SILENT_SLIDE_S)
    assert n.durations_s[0] == pytest.approx(n.clips[0].duration_s + PAUSE_S, abs=1e-3)
    # "Hello and welcome." is about a second of speech.
    assert 0.6 < n.clips[0].duration_s < 3.0
    assert n.soundtrack.sample_rate == n.clips[0].sample_rate


def test_narration_can_be_cancelled_and_checks_its_input():
    token = CancelToken()
    calls = []

    def speak(text: str) -> Audio:
        calls.append(text)
        token.cancel()
        return synthesize(text)

    with pytest.raises(Cancelled):
        narrate(DECK, speak, cancel=token)
    assert len(calls) == 1
    with pytest.raises(InputError, match="0..10 s"):
        narrate(DECK, synthesize, pause_s=-1)


@pytest.mark.parametrize("kind", ["bar", "line", "pie"])
def test_chart_png_in_theme_colours(tmp_path, kind):
    theme = get_theme("dark")
    spec = ChartSpec(kind, ("Q1", "Q2", "Q3"), (("Users", (10.0, 14.0, 21.0)), ("Decks", (4.0, 9.0, 15.0))))
    path = render_chart(spec, theme, tmp_path / f"{kind}.png", width_in=8, height_in=4.5)
    with Image.open(path) as im:
        assert im.size == (8 * CHART_DPI, round(4.5 * CHART_DPI))
        px = np.asarray(im.convert("RGB")).astype(int)
    bg = np.array(rgb(theme.background))
    gold = np.array(rgb(theme.chart_colors[0]))
    assert np.abs(px[2, 2] - bg).max() <= 2
    assert (np.abs(px - gold).sum(axis=2) < 30).mean() > 0.004
