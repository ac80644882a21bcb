"""Rekognition's image contract for DetectLabels with image bytes, as its documentation states it."""

from __future__ import annotations

import io

from PIL import Image

MAX_BYTES = 5 * 1024 * 1024
MIN_SIDE, MAX_SIDE = 80, 10_000


class ContractViolation(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_rekognition_image(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of an image DetectLabels accepts, or ContractViolation with the service's code."""
    if len(data) > MAX_BYTES:
        raise ContractViolation("ImageTooLargeException", f"image is {len(data)} bytes, over 5 MiB")
    if not (data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n")):
        raise ContractViolation("InvalidImageFormatException", "Request has invalid image format")
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format, image.size
            if fmt == "JPEG":
                # Every scan's entropy-coded data is still decoded (a damaged or cut stream fails as at full size);
                # only the inverse DCT works at 1/8 scale: a 12 MP photo's check in a tenth of the time.
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
            image.load()
    except Exception as exc:
        raise ContractViolation("InvalidImageFormatException", f"Request has invalid image format: {exc}") from None
    if fmt not in ("JPEG", "PNG"):
        raise ContractViolation("InvalidImageFormatException", "Request has invalid image format")
    if not all(MIN_SIDE <= side <= MAX_SIDE for side in (width, height)):
        raise ContractViolation("InvalidParameterException", f"image is {width}x{height}; sides must be 80-10000")
    return fmt, width, height
