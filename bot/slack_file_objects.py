"""Pure: what Slack's file objects say: whether a file may be an image, what a job keeps of one, and which of its
thumbnails to download instead of the original."""

from __future__ import annotations

from urllib.parse import urlsplit

IMAGE_FILETYPES = frozenset({"jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "avif", "bmp", "tiff", "tif", "ico"})
UNSUPPORTED_IMAGE_FILETYPES = frozenset({"svg", "eps", "psd", "ai", "raw", "dng", "cr2", "nef", "arw"})
# Slack's thumbnails (thumb_N, no longer than N px a side, with thumb_N_w and thumb_N_h): the smallest whose long
# side reaches THUMB_MIN_LONG_SIDE is downloaded instead of the original (in practice thumb_1024 of any photo at
# least 1024 px), a tenth of a camera file's bytes and plenty for labelling. JPEG and PNG ones only.
THUMB_SIZES = (360, 480, 720, 800, 960, 1024)
THUMB_MIN_LONG_SIDE = 1024
THUMB_SUFFIXES = (".jpg", ".jpeg", ".png")
KEPT_FILE_FIELDS = (
    "id",
    "name",
    "title",
    "mimetype",
    "filetype",
    "size",
    "url_private",
    "url_private_download",
    "file_access",
    "original_w",
    "original_h",
    *(f"thumb_{n}{suffix}" for n in THUMB_SIZES for suffix in ("", "_w", "_h")),
)


def is_tall_file(file: dict) -> bool:
    """Whether Slack's file object gives an image size too tall for its thumbnails or the prepared image to keep its
    text readable (bot.images.is_tall); False where it gives none."""
    from bot.images import is_tall

    try:
        return is_tall(int(file["original_w"]), int(file["original_h"]))
    except (KeyError, TypeError, ValueError):
        return False


def is_candidate_image(file: dict) -> bool:
    """From the event alone: could this file be an image? (Files Slack sent without details count.)"""
    if file.get("file_access") == "check_file_info":
        return True
    mimetype = str(file.get("mimetype") or "").lower()
    filetype = str(file.get("filetype") or "").lower()
    return mimetype.startswith("image/") or filetype in IMAGE_FILETYPES or filetype in UNSUPPORTED_IMAGE_FILETYPES


def job_file(file: dict) -> dict:
    """What a job keeps of Slack's file object."""
    return {key: file[key] for key in KEPT_FILE_FIELDS if key in file}


def thumbnail_url(file: dict) -> str | None:
    """The smallest JPEG/PNG thumbnail of the file whose long side is at least THUMB_MIN_LONG_SIDE, or None."""
    for size in THUMB_SIZES:
        url, width, height = file.get(f"thumb_{size}"), file.get(f"thumb_{size}_w"), file.get(f"thumb_{size}_h")
        if not isinstance(url, str) or not urlsplit(url).path.lower().endswith(THUMB_SUFFIXES):
            continue
        try:
            long_side = max(int(width), int(height))
        except (TypeError, ValueError):
            continue
        if long_side >= THUMB_MIN_LONG_SIDE:
            return url
    return None
