"""Pure: image bytes in, bytes that Rekognition's DetectLabels accepts out.

DetectLabels takes only JPEG or PNG, at most 5 MiB, each side 80-10000 px. A JPEG/PNG that already meets
that, and is either small (at most 1 MiB) or no larger than labelling needs (long side at most 2048 px), is passed
through untouched; everything else is decoded once, turned upright, flattened to RGB and re-encoded as a JPEG no
larger than labelling needs: a camera's 4 MB photo goes to Rekognition as ~0.5 MB, a tenth of the upload and of the
memory each call in flight holds.
"""

from __future__ import annotations

import bisect
import io
import logging
from dataclasses import dataclass

import pillow_heif
from PIL import Image, UnidentifiedImageError

from bot.i18n import Sentence

pillow_heif.register_heif_opener()

log = logging.getLogger(__name__)

REKOGNITION_MAX_BYTES = 5 * 1024 * 1024
REKOGNITION_MIN_SIDE = 80
REKOGNITION_MAX_SIDE = 10_000
# Enough for labelling (Slack's own previews stop at 1024) and far under 5 MiB as a JPEG.
PREPARED_LONG_SIDE = 2048
# A JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) whose long side still reaches this (Slack's largest
# thumbnail), so a converted JPEG's long side is 1024-2048 px and its pixels are rarely resampled at all.
DRAFT_LONG_SIDE = 1024
# A JPEG/PNG past PREPARED_LONG_SIDE still goes as posted when it is at most this many bytes.
PASS_THROUGH_MAX_BYTES = 1024 * 1024
# A 108 MP phone photo still decodes (a baseline JPEG at 1/4 scale or less, so cheaply); anything past this is
# treated as a decompression bomb.
MAX_SOURCE_PIXELS = 120_000_000
# Everything else decodes at full size, 6-10 bytes a pixel all told (a progressive JPEG keeps every DCT coefficient;
# WebP ~15: its decoder keeps copies), so these caps hold one image near 500 MB whatever its header claims (the
# fuzz test measures it). A 48 MP phone HEIC still opens.
MAX_FULL_DECODE_PIXELS = 50_000_000
MAX_WEBP_PIXELS = 25_000_000
JPEG_QUALITIES = (88, 80, 70, 60)
# Only these decoders ever run on user files (no EPS/Ghostscript, PSD, ... reachable). Multi-picture JPEGs
# (MPO) come from the JPEG opener; "MPO" has no opener of its own and listing it makes Image.open raise KeyError.
DECODERS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF", "ICO")
EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose does).
TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
REDUCIBLE_MODES = ("L", "RGB", "RGBA", "LA", "CMYK", "I")


# Moderation of an animation (moderation_frames): frames it may have at most, and pixels decoded over all of them
# (frames x canvas; a 480x270 GIF of 1,000 frames is 130 MP), so a checked animation stays within the time and memory
# of one large photo. Past either, it gets a clear answer instead of a partial check.
# The local text reader's copy of a tall screenshot (reading_copy): at most this wide, this many rows of it (the
# reader's six strips, bot.local_text).
READING_WIDTH = 1280
READING_ROWS = 9000
MAX_ANIMATION_FRAMES = 1_000
MAX_ANIMATION_PIXELS = 500_000_000
ANIMATED_DECODERS = ("GIF", "PNG", "WEBP")  # GIF, APNG and animated WebP
# Two frames whose 16x16 greys differ by less than this on average (0-255) are near-duplicates: one check covers both.
# Low on purpose: a repeat or a flicker is skipped, a small new thing in the picture is not.
NEAR_DUPLICATE = 1.0
DEFAULT_FRAME_MS = 100  # browsers show a frame of 0 or 10 ms as 100 ms


class FramedImage(bytes):
    """The prepared image (what every step sends to Rekognition) and, for an animation with moderation on, its other
    frames moderation checks (moderation_frames), and for a tall screenshot the local text reader's copy
    (reading_copy: the image's top `reading_part` of its height): bytes, with those beside them."""

    frames: tuple[bytes, ...] = ()
    reading: bytes | None = None
    reading_part: float = 1.0

    def __new__(
        cls, data: bytes, frames: tuple[bytes, ...] = (), reading: tuple[bytes, float] | None = None
    ) -> FramedImage:
        image = super().__new__(cls, data)
        image.frames = frames
        image.reading, image.reading_part = reading or (None, 1.0)
        return image


class ImageError(Exception):
    """An image we cannot turn into a Rekognition image; str() is a short, user-facing reason."""


class UnsupportedImage(ImageError):
    pass


class CorruptImage(ImageError):
    pass


class ImageTooLarge(ImageError):
    pass


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    format: str
    width: int
    height: int
    source_format: str
    converted: bool


def prepare_for_rekognition(data: bytes) -> PreparedImage:
    """Return bytes DetectLabels accepts, or raise an ImageError saying why not."""
    try:
        with Image.open(io.BytesIO(data), formats=DECODERS) as image:
            _check_pixels(image)
            if _acceptable_as_is(image, len(data)) and _png_chunks_intact(image, data):
                (width, height), source_format = image.size, image.format
                _verify_decodes(image)  # may draft a JPEG down to 1/8 scale, changing image.size
                return PreparedImage(data, source_format, width, height, source_format=source_format, converted=False)
            return _convert(image)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageTooLarge(Sentence("This image has too many pixels to open safely.")) from None
    except UnidentifiedImageError:
        raise UnsupportedImage(
            Sentence("I can't read this file as an image. I can label JPEG, PNG, HEIC, WebP, AVIF, GIF, BMP and TIFF.")
        ) from None
    except MemoryError:
        raise ImageTooLarge(Sentence("This image is too large to open.")) from None
    except Exception as exc:  # Pillow's decoders raise many types on damaged input; all mean "corrupt".
        log.debug("image decode failed: %r", exc)
        raise CorruptImage(Sentence("This image looks damaged or incomplete, so I couldn't read it.")) from None


def _check_pixels(image: Image.Image) -> None:
    width, height = image.size
    limit = pixel_limit(image)
    if width * height > limit:
        raise ImageTooLarge(
            Sentence(
                "This image is %(width)s×%(height)s pixels (%(megapixels)s MP), more than the %(limit)s MP I can open "
                "safely.",
                width=width,
                height=height,
                megapixels=f"{width * height / 1e6:.0f}",
                limit=limit // 1_000_000,
            )
        )
    if width < 1 or height < 1:
        raise CorruptImage(Sentence("This image has no pixels."))


def pixel_limit(image: Image.Image) -> int:
    """The most pixels this opened (not yet loaded) image may have to be decoded."""
    if image.format in ("JPEG", "MPO") and not image.info.get("progressive"):
        return MAX_SOURCE_PIXELS
    return MAX_WEBP_PIXELS if image.format == "WEBP" else MAX_FULL_DECODE_PIXELS


def _acceptable_as_is(image: Image.Image, size: int) -> bool:
    width, height = image.size
    if image.format not in ("JPEG", "PNG") or size > REKOGNITION_MAX_BYTES:
        return False
    if not all(REKOGNITION_MIN_SIDE <= side <= REKOGNITION_MAX_SIDE for side in (width, height)):
        return False
    if size > PASS_THROUGH_MAX_BYTES and max(width, height) > PREPARED_LONG_SIDE:
        return False
    if image.getexif().get(EXIF_ORIENTATION, 1) != 1:
        return False
    if image.format == "JPEG":
        return image.mode in ("RGB", "L")
    # A tRNS chunk can make an L, RGB or P image transparent; those are flattened onto white like RGBA.
    return image.mode in ("RGB", "L", "P") and "transparency" not in image.info


def _png_chunks_intact(image: Image.Image, data: bytes) -> bool:
    """For a PNG, whether every chunk up to IEND is there with a matching CRC.

    Pillow decodes a PNG whose IDAT CRC is wrong, or that lost its last bytes (CRC, IEND) after the pixels,
    but strict decoders such as libpng reject it. Such a file is re-encoded instead of being sent as is.
    """
    if image.format != "PNG":
        return True
    try:
        with Image.open(io.BytesIO(data), formats=("PNG",)) as probe:
            probe.verify()
    except Exception:
        return False
    return True


def _verify_decodes(image: Image.Image) -> None:
    """Decode fully (cheaply, at 1/8 scale for JPEG) so a truncated file fails here, not at Rekognition."""
    if image.format == "JPEG":
        image.draft(image.mode, (image.width // 8, image.height // 8))
    image.load()


def _convert(image: Image.Image) -> PreparedImage:
    source_format = image.format or "unknown"
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    if image.format in ("JPEG", "MPO"):
        # DCT scaling: decode at the smallest power-of-two scale whose long side still reaches DRAFT_LONG_SIDE.
        image.draft(image.mode, _stored_size(image, _draft_size(*_upright_size(image))))
    image.load()
    # The orientation still to apply is read after decoding: some decoders (HEIF) apply it themselves and drop
    # the tag, so predicting it from the header would rotate those twice.
    orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    rotated = orientation in (5, 6, 7, 8)
    upright_target = _target_size(*((image.height, image.width) if rotated else image.size))
    target = (upright_target[1], upright_target[0]) if rotated else upright_target
    # Everything from here works on as few pixels as possible: first a box-filter reduce by the whole factor
    # (what DCT scaling already did for a JPEG), then the turn, the flattening and the final fractional resample.
    image = _reduce(image, target)
    if orientation in TRANSPOSE_FOR_ORIENTATION:
        image = image.transpose(TRANSPOSE_FOR_ORIENTATION[orientation])
    rgb = _flatten_to_rgb(image)
    fitted = _fit(rgb, upright_target)
    data = _encode_jpeg(fitted)
    return PreparedImage(data, "JPEG", *fitted.size, source_format=source_format, converted=True)


def _reduce(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Image.reduce by the largest whole factor that keeps both sides at least the target (cheap: a box filter
    on the decoded pixels), leaving a resample by less than 2x. Modes reduce() cannot take, and a transparent
    colour key (averaging would blur it into colours that are no longer the key), are left to _fit."""
    factor = min(image.width // target[0], image.height // target[1])
    if factor < 2 or image.mode not in REDUCIBLE_MODES or "transparency" in image.info:
        return image
    return image.reduce(factor)


def _upright_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    rotated = image.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
    return (height, width) if rotated else (width, height)


def _stored_size(image: Image.Image, upright_target: tuple[int, int]) -> tuple[int, int]:
    rotated = _upright_size(image) != image.size
    return (upright_target[1], upright_target[0]) if rotated else upright_target


def _target_size(width: int, height: int) -> tuple[int, int]:
    """Long side at most PREPARED_LONG_SIDE, short side at least 80 (tiny icons scale up), aspect kept.

    A panorama too extreme for both (over 125:1) gets a long side of 10000 and a short side under 80,
    which _fit pads: stretching it instead would distort what is in it.
    """
    scale = min(1.0, PREPARED_LONG_SIDE / max(width, height))
    if min(width, height) * scale < REKOGNITION_MIN_SIDE:
        scale = min(REKOGNITION_MIN_SIDE / min(width, height), REKOGNITION_MAX_SIDE / max(width, height))
    new_w = min(REKOGNITION_MAX_SIDE, max(1, round(width * scale)))
    new_h = min(REKOGNITION_MAX_SIDE, max(1, round(height * scale)))
    return new_w, new_h


def _draft_size(width: int, height: int) -> tuple[int, int]:
    """What a JPEG's DCT scaling must keep: DRAFT_LONG_SIDE on the long side (or the target, if smaller), and the
    target's short side when that is at Rekognition's minimum (a panorama is never decoded below it and scaled up)."""
    target = _target_size(width, height)
    scale = min(1.0, max(DRAFT_LONG_SIDE / max(target), REKOGNITION_MIN_SIDE / min(target)))
    return max(1, round(target[0] * scale)), max(1, round(target[1] * scale))


def _flatten_to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # (A 16-bit transparent colour key is ignored: Pillow's I;16 -> RGBA clips everything to white.)
        return image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    # Before the RGB/L shortcut: an L or RGB image can carry a transparent colour key ("transparency").
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")  # convert() would copy an RGBA image
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("RGB", "L"):
        return image
    if image.mode == "1":
        return image.convert("L")
    return image.convert("RGB")


def _fit(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Scale to the target; pad an extreme panorama whose short side would still be under 80 px."""
    if image.size != target:
        if target[0] < image.width:
            # Less than 2x is left after _reduce: bilinear (Pillow's is antialiased: its support grows with the
            # factor) costs well under half of Lanczos here, and labelling cannot tell the difference.
            image = image.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
        else:
            image = image.resize(target, Image.Resampling.BICUBIC)
    if min(image.size) < REKOGNITION_MIN_SIDE:
        side = REKOGNITION_MIN_SIDE
        padded = Image.new(image.mode, (max(image.width, side), max(image.height, side)), "white")
        padded.paste(image, ((padded.width - image.width) // 2, (padded.height - image.height) // 2))
        image = padded
    return image


def _encode_jpeg(image: Image.Image) -> bytes:
    for quality in JPEG_QUALITIES:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, optimize=False)
        if buffer.tell() <= REKOGNITION_MAX_BYTES:
            return buffer.getvalue()
    raise ImageTooLarge(Sentence("This image stays over Rekognition's 5 MB limit even when compressed."))


def is_tall(width: int, height: int) -> bool:
    """Whether the prepared image (long side PREPARED_LONG_SIDE) would shrink this screenshot's text past reading:
    taller than that, and more than twice as tall as wide (a scrolling capture of a chat or a page)."""
    return height > max(2 * width, PREPARED_LONG_SIDE)


def reading_copy(data: bytes) -> tuple[bytes, float] | None:
    """For the local text reader (bot.local_text, which reads it in strips): a tall screenshot's first READING_ROWS
    rows at most READING_WIDTH wide, upright, as a JPEG, and the part of the image's height it shows (1.0: all of
    it). None for any other image (its prepared image is read), and
    for one that would take more than MAX_FULL_DECODE_PIXELS to decode or that fails (the prepared image is read:
    this copy is never why an image goes unanswered)."""
    try:
        with Image.open(io.BytesIO(data), formats=DECODERS) as image:
            width, height = _upright_size(image)
            if not is_tall(width, height):
                return None
            scale = min(1.0, READING_WIDTH / width)
            size = (max(1, round(width * scale)), max(1, round(min(height, READING_ROWS / scale) * scale)))
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)
            if image.format in ("JPEG", "MPO"):
                image.draft(image.mode, _stored_size(image, (size[0], round(height * scale))))
            if image.width * image.height > MAX_FULL_DECODE_PIXELS:
                return None
            image.load()
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
            if orientation in TRANSPOSE_FOR_ORIENTATION:
                image = image.transpose(TRANSPOSE_FOR_ORIENTATION[orientation])
            decoded_scale = image.width / width  # DCT scaling may have decoded it smaller already
            top = image.crop((0, 0, image.width, min(image.height, round(size[1] / scale * decoded_scale))))
            rgb = _flatten_to_rgb(top)
            if rgb.size != size:
                rgb = rgb.resize(size, Image.Resampling.LANCZOS)
            return _encode_jpeg(rgb), size[1] / (height * scale)
    except Exception as exc:  # any decoder's error: the prepared image is read instead
        log.debug("no reading copy of a tall image: %r", exc)
        return None


def moderation_frames(data: bytes, limit: int) -> tuple[bytes, ...]:
    """For an animated image (GIF, APNG, WebP), the frames moderation checks besides the first (which is the prepared
    image): chosen over the animation's duration (the last, and evenly between), at most `limit` with the first,
    near-duplicates of one already chosen skipped, each a JPEG Rekognition accepts. () for a still image or a limit of
    1. Raises ImageTooLarge past MAX_ANIMATION_FRAMES or MAX_ANIMATION_PIXELS, CorruptImage if a frame past the first
    can't be decoded: moderation never passes an animation it could not check whole."""
    if limit <= 1:
        return ()
    try:
        opened = Image.open(io.BytesIO(data), formats=ANIMATED_DECODERS)
    except UnidentifiedImageError:  # a JPEG, HEIC, TIFF…: no frames to check (prepare_for_rekognition read it)
        return ()
    except Exception:
        raise CorruptImage(Sentence("This image looks damaged or incomplete, so I couldn't read it.")) from None
    try:
        with opened as image:
            count = getattr(image, "n_frames", 1)
            if count <= 1:
                return ()
            if count > MAX_ANIMATION_FRAMES or count * image.width * image.height > MAX_ANIMATION_PIXELS:
                raise ImageTooLarge(
                    Sentence(
                        "This animation has %(count)s frames of %(width)s×%(height)s: too many for me to check every "
                        "part of it.",
                        count=f"{count:,}",
                        width=image.width,
                        height=image.height,
                    )
                )
            starts, total = [], 0
            for index in range(count):
                image.seek(index)
                starts.append(total)
                duration = int(image.info.get("duration") or 0)
                total += duration if duration > 10 else DEFAULT_FRAME_MS
            chosen = [_frame_at(starts, total * step / (limit - 1)) for step in range(1, limit)]
            frames: list[bytes] = []
            image.seek(0)
            kept = [_greys(image)]
            for index in sorted(set(chosen) - {0}):
                image.seek(index)
                greys = _greys(image)
                if any(_difference(greys, other) < NEAR_DUPLICATE for other in kept):
                    continue
                kept.append(greys)
                frames.append(_frame_jpeg(image))
            return tuple(frames)
    except ImageError:
        raise
    except (MemoryError, Image.DecompressionBombError):
        raise ImageTooLarge(Sentence("This animation is too large to check.")) from None
    except Exception as exc:  # Pillow's decoders raise many types on damaged input; all mean "corrupt"
        log.debug("animation frame decode failed: %r", exc)
        raise CorruptImage(
            Sentence("This animation looks damaged after its first frame, so I couldn't check all of it.")
        ) from None


def _frame_at(starts: list[int], moment: float) -> int:
    """The frame shown at `moment` ms (the last one at the very end)."""
    return max(0, bisect.bisect_right(starts, moment) - 1)


def _greys(image: Image.Image) -> bytes:
    return image.convert("L").resize((16, 16), Image.Resampling.BOX).tobytes()


def _difference(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def _frame_jpeg(image: Image.Image) -> bytes:
    """The current frame (the whole canvas, as shown) flattened and fitted as prepare_for_rekognition does."""
    frame = image.convert("RGBA")
    target = _target_size(*frame.size)
    return _encode_jpeg(_fit(_flatten_to_rgb(_reduce(frame, target)), target))
