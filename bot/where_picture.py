"""Pure: the Show where picture. The image Rekognition was sent (bot.images.prepare_for_rekognition's bytes) and the
boxes it answered in, out: a JPEG with a box per label instance, each captioned with its label and confidence in the
label's own colour, the text lines read outlined in a quieter style, and the lines that held a secret covered (filled
solid, with a margin: nothing of them is left to read back). Sized for Slack: long side at most MAX_SIDE, so
captions and lines are scaled for the picture people see. Captions are in the channel's language (`tr`), set in Noto
Sans JP (kanji, kana, full-width forms and Latin) from the pylopdf-fonts-jp package, opened at the first caption drawn,
not at import. The poster's safe copy (covered_copy) is the same image with only the secret lines covered."""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont, ImageOps

from bot.i18n import ENGLISH, Words
from bot.render import Label

log = logging.getLogger(__name__)

MAX_SIDE = 2048  # px, the picture's long side (Slack shows less; Rekognition's own limit is larger)
JPEG_QUALITY = 85
# Distinct, high-contrast colours, one per label in the order given (then again from the start).
PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
)
TEXT_BOX_COLOUR = (235, 235, 235)
COVER_COLOUR = (48, 48, 48)
# Around a covered line, this share of its height on every side: a line's box can clip its ascenders and descenders.
COVER_MARGIN = 0.25

Box = tuple[float, float, float, float]  # left, top, width, height as ratios of the image's width and height


def draw_where(
    prepared: bytes,
    labels: Sequence[Label],
    text_boxes: Sequence[Box] = (),
    secret_boxes: Sequence[Box] = (),
    *,
    tr: Words = ENGLISH,
) -> bytes:
    """The picture: `prepared` (upright already; an EXIF orientation still in it is applied) with the boxes, each
    captioned in `tr`'s language; the text lines in secret_boxes (some of text_boxes) are covered, not outlined."""
    image = _open(prepared)
    width, height = image.size
    scale = max(width, height) / 1000
    line = max(2, round(3 * scale))
    font = caption_font(max(12, round(22 * scale)))
    draw = ImageDraw.Draw(image)
    covered = set(secret_boxes)
    for box in text_boxes:
        if box not in covered:
            draw.rectangle(_pixels(box, width, height), outline=TEXT_BOX_COLOUR, width=max(1, line // 2))
    _cover(draw, secret_boxes, width, height)
    for index, label in enumerate(labels):
        colour = PALETTE[index % len(PALETTE)]
        for instance in label.instances:
            left, top, right, bottom = _pixels(
                (instance.left, instance.top, instance.width, instance.height), width, height
            )
            draw.rectangle((left, top, right, bottom), outline=colour, width=line)
            text = caption_text(label.name, instance.confidence, tr)
            _caption(draw, text, (left, top), colour, font, width, height)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=False)
    return out.getvalue()


def caption_text(name: str, confidence: float, tr: Words = ENGLISH) -> str:
    """A box's caption: the label's name in tr's language and the instance's confidence, whole: Cat 99%, 猫 99%."""
    return f"{tr.label(name)} {tr.percent(round(confidence))}"


def covered_copy(prepared: bytes, secret_boxes: Sequence[Box]) -> bytes:
    """The poster's safe copy: the image with the lines that held a secret covered, and nothing else drawn."""
    image = _open(prepared)
    _cover(ImageDraw.Draw(image), secret_boxes, *image.size)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=False)
    return out.getvalue()


def _open(prepared: bytes) -> Image.Image:
    """The prepared image upright, in RGB, its long side at most MAX_SIDE (a JPEG decoded at a fraction of its size
    where that is still at least the output); a JPEG saved from it carries none of the original's metadata."""
    with Image.open(io.BytesIO(prepared)) as source:
        if source.format == "JPEG":
            ratio = min(1.0, MAX_SIDE / max(source.size))
            source.draft("RGB", (round(source.width * ratio), round(source.height * ratio)))
        image = ImageOps.exif_transpose(source).convert("RGB")
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    return image


def _cover(draw: ImageDraw.ImageDraw, boxes: Sequence[Box], width: int, height: int) -> None:
    """Each line filled solid, COVER_MARGIN of its height beyond its box on every side (at least 2 px)."""
    for box in boxes:
        x0, y0, x1, y1 = _pixels(box, width, height)
        margin = max(2, round((y1 - y0) * COVER_MARGIN))
        draw.rectangle(
            (max(0, x0 - margin), max(0, y0 - margin), min(width - 1, x1 + margin), min(height - 1, y1 + margin)),
            fill=COVER_COLOUR,
        )


def _pixels(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """A ratio box as pixels, clamped to the image (Rekognition's can reach past an edge)."""
    left, top, box_width, box_height = box
    x0 = min(max(round(left * width), 0), width - 1)
    y0 = min(max(round(top * height), 0), height - 1)
    x1 = min(max(round((left + box_width) * width), x0), width - 1)
    y1 = min(max(round((top + box_height) * height), y0), height - 1)
    return x0, y0, x1, y1


def _caption(draw: ImageDraw.ImageDraw, text: str, at: tuple[int, int], colour, font, width: int, height: int) -> None:
    """A filled tag with the caption: above the box's top-left corner, inside it at the top edge, never off the
    image."""
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    pad = max(2, (y1 - y0) // 4)
    tag_width, tag_height = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
    left = min(max(at[0], 0), max(width - tag_width, 0))
    top = at[1] - tag_height if at[1] >= tag_height else at[1]
    top = min(top, max(height - tag_height, 0))
    draw.rectangle((left, top, left + tag_width, top + tag_height), fill=colour)
    ink = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
    draw.text((left + pad - x0, top + pad - y0), text, fill=ink, font=font)


@functools.lru_cache(maxsize=16)
def caption_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The captions' font at `size` px, opened once per size: Noto Sans JP, else (its package missing) Pillow's own
    Latin font, whose missing glyphs show as boxes."""
    path = _caption_font_file()
    return ImageFont.load_default(size=size) if path is None else ImageFont.truetype(path, size)


@functools.cache
def _caption_font_file() -> str | None:
    """Noto Sans JP's file in the installed pylopdf-fonts-jp package (its sans_path()), checked by opening it once;
    None, with one warning a process, if it is missing or unreadable."""
    try:
        from pylopdf_fonts_jp import sans_path

        path = str(sans_path())
        ImageFont.truetype(path, 12)
    except (ImportError, OSError) as exc:
        log.warning(
            "Show where captions fall back to Pillow's Latin font (Japanese shows as boxes): the pylopdf-fonts-jp "
            "package's Noto Sans JP could not be opened: %s",
            exc,
        )
        return None
    return path
