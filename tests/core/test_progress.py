"""Progress and cancellation (core/progress.py): a token the engine checks, stages mapped onto one scale."""

from __future__ import annotations

import pytest

from core.errors import Cancelled
from core.progress import CancelToken, Stages


def test_cancel_token_and_stages():
    token = CancelToken()
    token.raise_if_set()
    token.cancel()
    with pytest.raises(Cancelled):
        token.raise_if_set()

    seen = []
    stages = Stages(lambda d, t, m="": seen.append((round(d / t, 3), m)), {"lyrics": 1, "compose": 3})
    stages.report("lyrics", 1.0)
    stages.report("compose", 0.5, "bar 8")
    stages.report("compose", 2.0)
    assert seen == [(0.25, "lyrics"), (0.625, "bar 8"), (1.0, "compose")]
