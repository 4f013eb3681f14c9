"""Every engine's check_request answers in one shape: the request, the plan it worked out, notes."""

from __future__ import annotations

import numpy as np
from PIL import Image

from core.audio import Audio
from engines.checked import Checked
from engines.talking_head.render import check_request as check_head
from engines.talking_head.types import TalkingHeadRequest
from engines.video.photos import ImageToVideoRequest
from engines.video.photos import check_request as check_photos
from engines.video.scene_video import MusicVideoRequest, SceneVideoRequest
from engines.video.scene_video import check_request as check_scene
from engines.video.slideshow import Slide, SlideshowRequest
from engines.video.slideshow import check_request as check_slideshow
from engines.voice.engine import SpeakRequest, VoiceChoice
from engines.voice.engine import check_request as check_speech


def test_every_check_request_returns_the_request_its_plan_and_notes(tmp_path):
    photo = tmp_path / "p.png"
    Image.new("RGB", (64, 48), (200, 120, 40)).save(photo)
    tone = Audio((0.2 * np.sin(np.linspace(0, 2000, 32_000))).astype(np.float32), 16_000)  # 2 s
    requests = [
        (check_speech, SpeakRequest("Hello there.", VoiceChoice("default"))),
        (check_head, TalkingHeadRequest(portrait=photo, audio=tone, size=256)),
        (check_scene, SceneVideoRequest(audio=None, size="321x180")),
        (check_scene, MusicVideoRequest(audio=None, lrc="", title="")),
        (check_photos, ImageToVideoRequest(images=[photo, photo], audio=tone)),
        (check_slideshow, SlideshowRequest(slides=[Slide(photo, 1.0), Slide(photo, 1.0)], audio=tone)),
    ]
    for check, req in requests:
        checked = check(req)
        assert isinstance(checked, Checked) and checked.request is req and isinstance(checked.notes, list)
    # what the plans hold
    assert check_head(requests[1][1]).plan.size == 256 and check_head(requests[1][1]).plan.audio.duration_s == 2.0
    scene = check_scene(requests[2][1])
    assert (scene.plan.size.width_px, scene.plan.size.height_px, scene.plan.fps) == (320, 180, 30) and scene.notes
    photos = check_photos(requests[4][1]).plan
    assert photos.duration_s == 2.0 and photos.starts_s == [0.0, 1.0]
    assert check_speech(requests[0][1]).plan is None
