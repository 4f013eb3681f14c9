"""Talking head: a portrait and speech -> a video of the face speaking.

    from engines.talking_head import TalkingHeadRequest, render_talking_head
    result = render_talking_head(TalkingHeadRequest(portrait="me.png", audio=Audio.read("hello.flac"),
                                                    output_path="me.mp4"))

The embedded engine (default, CPU, nothing downloaded) finds the face with MediaPipe FaceMesh and
animates the photo by warping it: jaw and lips from the speech, blinks, small head motion and
breathing. Other backends (neural models with local weights) are `backends.TalkingHeadBackend`s,
chosen by name among those the catalogue offers with `backends.render_with`.
Importing this package is cheap: MediaPipe and OpenCV load on the first render.
"""

from engines.talking_head.backends import EmbeddedBackend, TalkingHeadBackend, render_talking_head, render_with
from engines.talking_head.types import FaceBox, TalkingHeadRequest, TalkingHeadResult

__all__ = [
    "EmbeddedBackend", "FaceBox", "TalkingHeadBackend", "TalkingHeadRequest", "TalkingHeadResult",
    "render_talking_head", "render_with",
]
