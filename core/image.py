"""Reading images: a path or an array in, an RGB uint8 array out, with the size checked before any
pixel is decoded and errors that name the file.

Transparent pixels are composited onto white (BACKGROUND_RGB), by every engine that loads an image:
the talking head animates a cut-out portrait as if photographed against a white backdrop (its face
finder and mouth model see a lit background, not a dark halo around the hair), and a photo, slide or
video background with transparency looks the same in a video as in that portrait. Intake keeps the
alpha channel in the stored PNG; it is flattened only when an engine loads the image.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from core.errors import InputError

# Largest image accepted by default, in pixels (width * height).
DEFAULT_MAX_PIXELS = 50_000_000
# Smallest image side accepted by default, in pixels.
MIN_IMAGE_SIDE_PX = 16
# What transparent pixels are composited onto (RGB).
BACKGROUND_RGB = (255, 255, 255)
_FORMATS_HINT = "use a PNG, JPEG or WebP photo"


class NotAnImage(InputError):
    """The file is not an image at all (rather than a damaged, tiny or oversized one)."""


def megapixels(pixels: float) -> str:
    """Megapixels without rounding small limits to 0 ("0.2", "50", "400")."""
    v = pixels / 1e6
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}"


def check_size(what: str, width_px: int, height_px: int, max_pixels: int, min_side_px: int) -> None:
    """InputError unless the image has at most `max_pixels` pixels and at least `min_side_px` on each side;
    `what` names it in the message (the file name, quoted, or "the image")."""
    w, h = width_px, height_px
    if w * h > max_pixels:
        raise InputError(f"{what} is too large: {w}x{h} pixels ({megapixels(w * h)} megapixels); the limit is "
                         f"{megapixels(max_pixels)} megapixels, resize it first")
    if min(w, h) < min_side_px:
        raise InputError(f"{what} is too small: {w}x{h} pixels; at least {min_side_px} px on each side is needed")


def has_alpha(im) -> bool:
    return "A" in im.getbands() or "transparency" in im.info


def open_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, min_side_px: int = MIN_IMAGE_SIDE_PX,
               name: str | None = None):
    """The image opened lazily: only its header is read, and its size checked against the limits.

    `name` is how messages call the file (its own name by default). NotAnImage when the file is no
    image; InputError when it is missing, a decompression bomb or outside the limits. The caller closes
    the image (`with open_image(...) as im:`)."""
    from PIL import Image

    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise InputError(f"the image {name!r} does not exist")
    try:
        with warnings.catch_warnings():
            # The limits below are checked from the header; Pillow's own warning would only repeat them.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError:
        raise InputError(f"{name!r} declares an image far larger than it should be (a decompression bomb); "
                         f"the limit is {megapixels(max_pixels)} megapixels") from None
    except (OSError, ValueError, SyntaxError):
        raise NotAnImage(f"cannot read {name!r} as an image; {_FORMATS_HINT}") from None
    try:
        check_size(repr(name), *im.size, max_pixels, min_side_px)
    except InputError:
        im.close()
        raise
    return im


def decode_image(im, name: str):
    """The pixels of an opened image, decoded and turned upright by its EXIF orientation; transparency
    is kept. InputError naming the file for truncated or damaged pixel data."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
            return ImageOps.exif_transpose(im)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        reason = "it is truncated or damaged" if "truncated" in str(e).lower() else str(e) or e.__class__.__name__
        raise InputError(f"{name!r} is a damaged or truncated image ({reason}); {_FORMATS_HINT}") from None


def flatten(im) -> np.ndarray:
    """The image as an RGB uint8 array (height, width, 3), transparent pixels composited onto BACKGROUND_RGB."""
    from PIL import Image

    if has_alpha(im):
        im = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", im.size, (*BACKGROUND_RGB, 255)), im)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def load_image(image: str | Path | np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS,
               min_side_px: int = MIN_IMAGE_SIDE_PX) -> np.ndarray:
    """An image file, or an array (grey, RGB or RGBA; uint8 or floats in 0..1), as an RGB uint8 array
    (height, width, 3): EXIF rotation applied, transparency composited onto BACKGROUND_RGB. InputError
    (naming the file) for missing, non-image, truncated, tiny or oversized images; a file's size is
    checked from its header before anything is decoded."""
    if isinstance(image, (str, Path)):
        name = Path(image).name
        with open_image(image, max_pixels, min_side_px) as im:
            return flatten(decode_image(im, name))
    if not isinstance(image, np.ndarray):
        raise InputError("the image must be an image file or an RGB array")
    rgb = _from_array(image)
    check_size("the image", rgb.shape[1], rgb.shape[0], max_pixels, min_side_px)
    return rgb


def _from_array(a: np.ndarray) -> np.ndarray:
    from PIL import Image

    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise InputError(f"the image array must be (height, width, 3) RGB, got shape {a.shape}")
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and a.size and float(np.nanmax(a)) <= 1.0:
            a = a * 255.0
        a = np.clip(np.nan_to_num(a), 0, 255).astype(np.uint8)
    if a.shape[2] == 4:
        return flatten(Image.fromarray(np.ascontiguousarray(a)))  # (h, w, 4) uint8 is RGBA
    return np.ascontiguousarray(a)
