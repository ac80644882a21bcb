"""Pictures the tests make."""

from __future__ import annotations

import io
import random

from PIL import Image

UNIFORM_SIGMA = 256 / 12**0.5  # the standard deviation of bytes spread evenly over 0-255 (73.9)


def grain(size: tuple[int, int], sigma: float, seed: int = 0) -> Image.Image:
    """RGB noise around mid-grey with standard deviation `sigma` per channel, the same for the same seed: what
    Image.effect_noise gives, in a tenth of its time (effect_noise draws a Gaussian per pixel, 2 s for 12 MP)."""
    width, height = size
    rng = random.Random(seed)
    lut = [max(0, min(255, round(128 + (value - 127.5) * sigma / UNIFORM_SIGMA))) for value in range(256)]
    bands = [Image.frombytes("L", size, rng.randbytes(width * height)).point(lut) for _ in range(3)]
    return Image.merge("RGB", bands)


INK = (20, 40, 160)  # the screenshot's text colour: far from the cover's and the outlines' colours


def screenshot_with_lines(*lines: str) -> tuple[bytes, list[tuple[float, float, float, float]]]:
    """A white 1000x500 screenshot with the lines in INK, one under the other, and each line's box as DetectText
    gives it (the ink's extent, as ratios)."""
    from PIL import ImageDraw, ImageFont

    image = Image.new("RGB", (1000, 500), (255, 255, 255))
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(size=40)
    boxes = []
    for row, text in enumerate(lines):
        left, top, right, bottom = draw.textbbox((60, 60 + row * 120), text, font=font)
        draw.text((60, 60 + row * 120), text, fill=INK, font=font)
        boxes.append((left / 1000, top / 500, (right - left) / 1000, (bottom - top) / 500))
    return _jpeg(image), boxes


def rendered_screenshot(
    *lines: str,
    size: tuple[int, int] = (1000, 400),
    font_size: int = 28,
    top: int = 40,
    step: int = 70,
    mode: str = "RGB",
) -> bytes:
    """A white screenshot (JPEG) with the lines written in Noto Sans JP (the bot's caption font, from
    pylopdf-fonts-jp), for the local text reader to read. mode "L": greyscale, a third of the bytes to make."""
    from PIL import ImageDraw

    from bot.where_picture import caption_font

    image = Image.new(mode, size, "white")
    draw, font = ImageDraw.Draw(image), caption_font(font_size)
    for row, text in enumerate(lines):
        draw.text((40, top + row * step), text, fill="#1e1e1e", font=font)
    return _jpeg(image)


def ink_pixels(picture: Image.Image) -> int:
    """How many of an RGB picture's pixels are INK (within 50 a channel: JPEG moves them)."""
    red, green, blue = INK
    data = picture.tobytes()
    return sum(
        1
        for at in range(0, len(data), 3)
        if abs(data[at] - red) <= 50 and abs(data[at + 1] - green) <= 50 and abs(data[at + 2] - blue) <= 50
    )


def region(picture: Image.Image, box, grow: int = 0) -> Image.Image:
    """The part of the picture in a ratio box, `grow` pixels wider on every side."""
    width, height = picture.size
    left, top, box_width, box_height = box
    return picture.crop(
        (
            max(0, round(left * width) - grow),
            max(0, round(top * height) - grow),
            min(width, round((left + box_width) * width) + grow),
            min(height, round((top + box_height) * height) + grow),
        )
    )


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


UNSAFE_RED = (220, 20, 20)


def animation(count: int, *, unsafe: tuple[int, ...] = (), distinct: int | None = None, fmt: str = "GIF") -> bytes:
    """An animation of `count` 320x240 frames, 100 ms each: blue with a yellow square that moves from frame to frame
    (every `distinct`th frame repeats, if given), and the frames in `unsafe` red instead (is_unsafe_frame tells)."""
    from PIL import ImageDraw

    frames = []
    for index in range(count):
        frame = Image.new("RGB", (320, 240), UNSAFE_RED if index in unsafe else (20, 40, 200))
        step = index % distinct if distinct else index
        left, top = 20 + (step * 47) % 220, 20 + (step * 31) % 140  # never twice in one place over 100 frames
        ImageDraw.Draw(frame).rectangle((left, top, left + 70, top + 70), fill=(250, 220, 0))
        frames.append(frame)
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def is_unsafe_frame(image: bytes) -> bool:
    """Whether a frame (as sent to Rekognition) is one of animation()'s unsafe ones: red in its corner."""
    with Image.open(io.BytesIO(image)) as frame:
        red, green, blue = frame.convert("RGB").getpixel((4, 4))
    return red > 150 and green < 90 and blue < 90
