"""Licence flags from the licence texts the backends really report: the most restrictive decides."""

from __future__ import annotations

import pytest

from core.licences import commercial_use, join, split
from engines.music.backends.musicgen import LICENCE as MUSICGEN
from engines.talking_head.backends import EmbeddedBackend as EmbeddedHead
from engines.voice import piper
from engines.voice.backends.bark import BarkBackend
from engines.voice.backends.embedded import EmbeddedBackend as Espeak
from engines.voice.backends.openai_tts import OpenAIBackend

PIPER = piper.LICENCES[piper.DEFAULT_VOICE]


@pytest.mark.parametrize("licence, flag", [
    (MUSICGEN, "no"),  # CC-BY-NC weights
    (PIPER, "check"),  # trained on data whose terms limit commercial synthesis
    (OpenAIBackend.licence, "check"),
    (Espeak.licence, "yes"),
    (BarkBackend.licence, "yes"),
    (EmbeddedHead.licence, "yes"),
    ("", "yes"),  # the studio's own code
    ("a licence nobody wrote a rule for", "check"),
    ("limits apply", "check"),  # "mit" inside a word is not MIT
])
def test_each_backends_licence_has_its_flag(licence, flag):
    assert commercial_use([licence]).commercial_use == flag


def test_the_most_restrictive_licence_decides_and_all_are_kept():
    both = join([Espeak.licence, MUSICGEN, Espeak.licence])
    assert split(both) == [Espeak.licence, MUSICGEN]
    flag = commercial_use(split(both))
    assert flag.commercial_use == "no" and flag.licences == (Espeak.licence, MUSICGEN)
    assert flag.note.startswith("Commercial use: not allowed")
    assert commercial_use(split(join([Espeak.licence, PIPER]))).commercial_use == "check"
    assert join([join(["MIT", "BSD"]), "MIT"]) == "MIT | BSD"
