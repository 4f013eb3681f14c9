"""Image loading (core/image.py): errors that name the file, limits from the header, and transparency
composited onto the same white whether the image comes as a file or as an array."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import InputError
from core.image import BACKGROUND_RGB, NotAnImage, load_image


def test_load_image_errors_name_the_file(tmp_path: Path):
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 30), (255, 0, 0)).save(good)
    rgb = load_image(good)
    assert rgb.shape == (30, 40, 3) and rgb.dtype == np.uint8 and tuple(rgb[0, 0]) == (255, 0, 0)
    (tmp_path / "song.png").write_bytes(b"ID3 this is not an image at all")
    with pytest.raises(NotAnImage, match="song.png"):
        load_image(tmp_path / "song.png")
    big = tmp_path / "big.jpg"
    Image.new("RGB", (600, 400), (0, 90, 0)).save(big, quality=95)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(big.read_bytes()[: big.stat().st_size // 3])
    with pytest.raises(InputError, match="cut.jpg.*truncated"):
        load_image(cut)
    with pytest.raises(InputError, match="big.jpg.*too large: 600x400 pixels"):
        load_image(big, max_pixels=100_000)
    with pytest.raises(InputError, match="too small"):
        load_image(big, min_side_px=500)
    with pytest.raises(InputError, match="does not exist"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(InputError, match="the image is too small"):
        load_image(np.zeros((10, 40, 3), np.uint8))


def test_transparency_lands_on_white_from_files_and_arrays(tmp_path: Path):
    """Half-transparent red and fully transparent pixels come out the same from a PNG and an RGBA array."""
    rgba = np.zeros((32, 48, 4), np.uint8)
    rgba[:, :24] = (255, 0, 0, 128)  # half-transparent red
    rgba[:, 24:] = (0, 0, 255, 0)  # fully transparent: only the background shows
    Image.fromarray(rgba).save(tmp_path / "cutout.png")
    from_file = load_image(tmp_path / "cutout.png")
    from_array = load_image(rgba)
    assert np.array_equal(from_file, from_array)
    assert tuple(from_file[0, 40]) == BACKGROUND_RGB == (255, 255, 255)
    assert from_file[0, 0, 0] == 255 and abs(int(from_file[0, 0, 1]) - 127) <= 1  # red over white: pink
    # A palette PNG with one transparent colour is flattened the same way.
    pal = Image.new("P", (20, 20), 0)
    pal.putpalette([0, 0, 0, 200, 200, 200] + [0] * 762)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "palette.png", transparency=0)
    assert tuple(load_image(tmp_path / "palette.png")[5, 5]) == BACKGROUND_RGB
