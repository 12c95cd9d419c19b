"""Reading user images robustly: any mode Pillow opens becomes RGB uint8, with clear errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import KpanimError

MIN_SIDE = 64


def read_image_rgb(path: str | Path) -> np.ndarray:
    """Image file → (H, W, 3) uint8 RGB, honouring EXIF orientation.

    Grayscale, palette, CMYK, 16-bit and alpha images are converted (alpha is composited on white,
    with a warning). Unreadable or tiny images raise :class:`KpanimError`.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise KpanimError(f"{path}: no such image file; give the portrait photo (PNG or JPEG)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img = ImageOps.exif_transpose(img)
                img.load()
    except Image.DecompressionBombError:
        raise KpanimError(f"{path}: the image is too large to read safely (over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} "
                          "megapixels); scale it down, e.g. to 4000 pixels on the longer side") from None
    except UnidentifiedImageError:
        raise KpanimError(f"{path}: not an image Pillow can read; use a PNG or JPEG portrait") from None
    except (OSError, ValueError) as err:
        raise KpanimError(f"{path}: cannot read the image ({err}); re-save it as PNG or JPEG") from None

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        arr = (arr - arr.min()) / max(np.ptp(arr), 1e-12)
        img = Image.fromarray((arr * 255 + 0.5).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        if np.asarray(rgba)[..., 3].min() < 255:
            warnings.warn(f"{path.name}: transparent pixels were composited on white", stacklevel=2)
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba)
    rgb = np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise KpanimError(f"{path}: image is only {w}x{h} pixels; use a portrait at least {MIN_SIDE} px "
                          "on each side (256 px or more gives good results)")
    return rgb
