"""Reading the portrait: a path or an array in, an RGB uint8 array out, with size limits checked
before anything is decoded."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from core.errors import InputError

log = logging.getLogger(__name__)

# Smallest photo side worth animating, in pixels.
MIN_IMAGE_SIDE = 64


def load_portrait(portrait, max_pixels: int) -> np.ndarray:  # noqa: ANN001  (path or array)
    """The portrait as an RGB uint8 array (height, width, 3). EXIF rotation is applied; alpha is
    composited over white. Raises InputError for unreadable, tiny or oversized images."""
    if isinstance(portrait, np.ndarray):
        rgb = _from_array(portrait)
    elif isinstance(portrait, (str, Path)):
        rgb = _from_file(Path(portrait), max_pixels)
    else:
        raise InputError("the portrait must be an image file or an RGB array")
    h, w = rgb.shape[:2]
    if w * h > max_pixels:
        raise InputError(f"the photo is too large ({w}x{h} = {w * h / 1e6:.0f} MP, at most "
                         f"{max_pixels / 1e6:.0f} MP): resize it first")
    if min(w, h) < MIN_IMAGE_SIDE:
        raise InputError(f"the photo is too small ({w}x{h}); at least {MIN_IMAGE_SIDE} px on each side is needed")
    return rgb


def _from_array(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise InputError(f"the portrait array must be (height, width, 3) RGB, got shape {a.shape}")
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and a.size and float(np.nanmax(a)) <= 1.0:
            a = a * 255.0
        a = np.clip(np.nan_to_num(a), 0, 255).astype(np.uint8)
    if a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        a = (a[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(a)


def _from_file(path: Path, max_pixels: int) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path.is_file():
        raise InputError(f"the portrait file {path.name!r} does not exist")
    try:
        with Image.open(path) as im:
            w, h = im.size  # read from the header: nothing decoded yet
            if w * h > max_pixels:
                raise InputError(f"the photo is too large ({w}x{h} = {w * h / 1e6:.0f} MP, at most "
                                 f"{max_pixels / 1e6:.0f} MP): resize it first")
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                background = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, im)
            return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise InputError(f"cannot read the portrait {path.name!r} as an image ({e.__class__.__name__}); "
                         "use a PNG, JPEG or WebP photo") from None
