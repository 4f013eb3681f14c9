"""Template thumbnails for the gallery: one per template, each its own picture."""

from __future__ import annotations

import numpy as np

from engines.video.previews import template_preview
from engines.video.scenes import template_names


def test_every_template_has_a_distinct_preview():
    pictures = {name: template_preview(name) for name in template_names()}
    assert len(pictures) >= 3
    for name, img in pictures.items():
        assert img.shape == (180, 320, 3) and img.dtype == np.uint8
        assert img.std() > 3, f"{name}'s preview is a flat colour"
    names = list(pictures)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            diff = np.abs(pictures[a].astype(int) - pictures[b].astype(int)).mean()
            assert diff > 5, f"{a} and {b} look the same ({diff:.1f})"
    assert np.array_equal(template_preview(names[0]), pictures[names[0]])
