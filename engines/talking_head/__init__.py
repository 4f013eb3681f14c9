"""Talking head: a portrait and speech -> a video of the face speaking.

    from engines.talking_head import TalkingHeadRequest, render_talking_head
    result = render_talking_head(TalkingHeadRequest(portrait="me.png", audio=Audio.read("hello.flac")))

The embedded engine (default, CPU, nothing downloaded) finds the face with MediaPipe FaceMesh and
animates the photo by warping it: jaw and lips from the speech, blinks, small head motion and
breathing. Neural SadTalker-class backends plug in behind `backends.NeuralBackend`.
Importing this package is cheap: MediaPipe and OpenCV load on the first render.
"""

from engines.talking_head.backends import (
    AUTO_ORDER, EmbeddedBackend, NeuralBackend, SadTalkerBackend, TalkingHeadBackend, get, names, register_all,
    render_talking_head,
)
from engines.talking_head.types import FaceBox, TalkingHeadRequest, TalkingHeadResult

__all__ = [
    "AUTO_ORDER", "EmbeddedBackend", "FaceBox", "NeuralBackend", "SadTalkerBackend", "TalkingHeadBackend",
    "TalkingHeadRequest", "TalkingHeadResult", "get", "names", "register_all", "render_talking_head",
]
