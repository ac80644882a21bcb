"""bot/images.py: every image a Slack user can post either comes out as bytes DetectLabels accepts, or fails
with one of the module's own short, user-facing errors.

Every success is checked against the same DetectLabels contract the loopback Rekognition fake enforces, and
against the PreparedImage fields that describe it. Sources are the real photos in tests/fixtures, re-encoded
on the fly; synthetic images appear only where geometry or colours have to be known exactly.
"""

from __future__ import annotations

import functools
import io
import math
import random
import struct
import zlib
from collections.abc import Callable

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from bot.images import (
    CorruptImage,
    ImageError,
    ImageTooLarge,
    PreparedImage,
    UnsupportedImage,
    moderation_frames,
    prepare_for_rekognition,
)
from tests import pictures
from tests.conftest import fixture_bytes
from tests.fakes.rekognition_contract import check_rekognition_image

# Pillow warns (and carries on) when a damaged file's EXIF block is short; the tests feed it many of those.
pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")

MiB = 1024 * 1024
RED, BLUE = (230, 20, 20), (20, 20, 230)
EXIF_ORIENTATION = 0x0112


# ---------------------------------------------------------------------------------------------- helpers


@functools.cache
def _photo(name: str) -> Image.Image:
    with Image.open(io.BytesIO(fixture_bytes(name))) as image:
        image.load()
        return image.copy()


def photo(name: str = "cat.jpg") -> Image.Image:
    """A fresh copy of a fixture photo, decoded (cat.jpg 451x300, coffee.jpg, rocket.jpg, logo_alpha.png)."""
    return _photo(name).copy()


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


def valid_output(result: PreparedImage) -> Image.Image:
    """Assert the result is what DetectLabels accepts and that its fields describe its bytes; return its pixels."""
    assert isinstance(result, PreparedImage)
    assert isinstance(result.data, bytes)
    fmt, width, height = check_rekognition_image(result.data)
    assert (result.format, result.width, result.height) == (fmt, width, height)
    if result.converted:
        assert result.format == "JPEG"
    image = decode(result.data)
    # Upright: nothing left for a viewer (or Rekognition) to rotate a second time.
    assert image.getexif().get(EXIF_ORIENTATION, 1) == 1 or not result.converted
    return image


def mean_difference(a: Image.Image, b: Image.Image, reduce: int = 1) -> float:
    """Mean per-channel absolute difference (0-255) of two images, b scaled to a's size, both then 1/reduce."""
    a = a.convert("RGB")
    b = b.convert("RGB").resize(a.size, Image.Resampling.BILINEAR)
    if reduce > 1:
        a, b = a.reduce(reduce), b.reduce(reduce)
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def assert_looks_like(output: Image.Image, source: Image.Image, tolerance: float = 12.0, reduce: int = 1) -> None:
    # Different fixture photos differ by ~60 on this measure; a faithful re-encode by a few units.
    assert mean_difference(output, source, reduce) < tolerance


def is_red(pixel) -> bool:
    r, g, b = pixel[:3]
    return r > 150 and g < 100 and b < 100


def is_blue(pixel) -> bool:
    r, g, b = pixel[:3]
    return b > 150 and r < 100 and g < 100


def is_white(pixel) -> bool:
    if isinstance(pixel, int):
        return pixel >= 240
    return all(channel >= 240 for channel in pixel[:3])


def assert_user_facing(error: ImageError) -> None:
    message = str(error)
    assert message.endswith(".")
    assert "\n" not in message
    assert 20 <= len(message) <= 160
    for internal in ("Error", "Traceback", "PIL", "errno", "0x"):
        assert internal not in message


def expect_error(data: bytes, *allowed: type[ImageError]) -> ImageError:
    """prepare_for_rekognition(data) must raise one of `allowed`, and nothing else."""
    with pytest.raises(ImageError) as caught:
        prepare_for_rekognition(data)
    assert isinstance(caught.value, allowed), repr(caught.value)
    assert_user_facing(caught.value)
    return caught.value


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The same JPEG with an APP1 Exif segment carrying Orientation spliced in after SOI (no re-encode)."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    payload = exif.tobytes()
    assert payload.startswith(b"Exif\x00\x00")
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def handmade_png(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return PNG_SIGNATURE + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def palette_with_transparent_box(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """Mode P: the photo in 255 colours, index 255 (black, and transparent) filling box."""
    paletted = image.convert("RGB").quantize(colors=255)
    palette = [*paletted.getpalette()[: 255 * 3], 0, 0, 0]
    paletted.putpalette(palette)
    ImageDraw.Draw(paletted).rectangle(box, fill=255)
    paletted.info["transparency"] = 255
    return paletted


# Every format a Slack user can post that DetectLabels does not take as it is: kind -> encoder of a photo.
CONVERTED_KINDS: dict[str, tuple[str, Callable[[Image.Image], bytes]]] = {
    "heic": ("HEIF", lambda im: encode(im, "HEIF", quality=90)),
    "webp": ("WEBP", lambda im: encode(im, "WEBP", quality=90)),
    "avif": ("AVIF", lambda im: encode(im, "AVIF", quality=90)),
    "gif": ("GIF", lambda im: encode(im, "GIF")),
    "bmp": ("BMP", lambda im: encode(im, "BMP")),
    "tiff": ("TIFF", lambda im: encode(im, "TIFF")),
    "tiff-deflate": ("TIFF", lambda im: encode(im, "TIFF", compression="tiff_deflate")),
    "tiff-jpeg": ("TIFF", lambda im: encode(im, "TIFF", compression="jpeg")),
    "cmyk-jpeg": ("JPEG", lambda im: encode(im.convert("CMYK"), "JPEG", quality=92)),
    # A camera's multi-picture JPEG: the photo, then a second, smaller picture.
    "mpo": ("MPO", lambda im: encode(im, "MPO", save_all=True, append_images=[photo("coffee.jpg").resize((96, 64))])),
}


@functools.cache
def cat_as(kind: str) -> bytes:
    if kind == "jpeg":
        return fixture_bytes("cat.jpg")
    if kind == "png":
        return encode(photo("cat.jpg"), "PNG")
    if kind == "png-rgba":
        return fixture_bytes("logo_alpha.png")
    if kind == "ico":
        return encode(photo("logo_alpha.png"), "ICO", sizes=[(64, 64)])
    return CONVERTED_KINDS[kind][1](photo("cat.jpg"))


# ------------------------------------------------------------------------------ big inputs, built once


@pytest.fixture(scope="module")
def camera_jpeg() -> bytes:
    """A 50-megapixel camera-sized JPEG (8660x5774) of the cat, over 5 MiB as such files are."""
    big = photo("cat.jpg").resize((8660, 5774), Image.Resampling.BILINEAR)
    data = encode(big, "JPEG", quality=100, subsampling=0)
    assert len(data) > 5 * MiB
    return data


@pytest.fixture(scope="module")
def heavy_jpeg() -> bytes:
    """Well within the pixel limits (2400x1600) yet over 5 MiB: a grainy photo saved at quality 100."""
    size = (2400, 1600)
    grain = pictures.grain(size, 80)
    grainy = Image.blend(photo("coffee.jpg").resize(size, Image.Resampling.BILINEAR), grain, 0.5)
    data = encode(grainy, "JPEG", quality=100, subsampling=0)
    assert len(data) > 5 * MiB
    return data


@pytest.fixture(scope="module")
def panorama_jpeg() -> bytes:
    return encode(photo("rocket.jpg").resize((12000, 400), Image.Resampling.BILINEAR), "JPEG", quality=85)


@pytest.fixture(scope="module")
def png_bombs() -> dict[str, bytes]:
    """Valid, tiny, all-black 1-bit PNGs whose pixels would not fit in memory decoded (or barely)."""

    def bomb(width: int, height: int) -> bytes:
        row = bytes(1 + (width + 7) // 8)  # filter byte 0, then the packed bits
        return handmade_png(width, height, 1, 0, zlib.compress(row * height, 6))

    return {
        "pillow-limit": bomb(14_000, 14_000),  # 196 MP: past Pillow's own DecompressionBombError threshold
        "our-limit": bomb(11_000, 11_000),  # 121 MP: Pillow only warns; the module's own cap stops it
    }


# --------------------------------------------------------------------------- JPEG/PNG within limits: as is


AS_POSTED: dict[str, Callable[[], bytes]] = {
    "cat.jpg": lambda: fixture_bytes("cat.jpg"),
    "coffee.jpg": lambda: fixture_bytes("coffee.jpg"),
    "rocket.jpg (ICC profile, comment)": lambda: fixture_bytes("rocket.jpg"),
    "progressive jpeg": lambda: encode(photo("coffee.jpg"), "JPEG", progressive=True, quality=85),
    "greyscale jpeg": lambda: encode(photo("rocket.jpg").convert("L"), "JPEG"),
    "rgb png": lambda: cat_as("png"),
    "greyscale png": lambda: encode(photo("coffee.jpg").convert("L"), "PNG"),
    "palette png, opaque": lambda: encode(photo("rocket.jpg").quantize(colors=200), "PNG"),
    "16-bit-per-channel rgb png": lambda: sixteen_bit_rgb_png(photo("cat.jpg")),
}


@pytest.mark.parametrize("kind", list(AS_POSTED))
def test_a_jpeg_or_png_within_the_limits_goes_as_posted(kind):
    data = AS_POSTED[kind]()
    with Image.open(io.BytesIO(data)) as source:
        source_format, source_size = source.format, source.size

    result = prepare_for_rekognition(data)

    assert result.converted is False
    assert result.data == data
    assert result.source_format == result.format == source_format
    assert (result.width, result.height) == source_size  # the real size, not a draft-scaled one
    valid_output(result)


@pytest.mark.parametrize(
    ("size", "converted"),
    [((80, 80), False), ((10_000, 120), False), ((120, 10_000), False), ((79, 300), True), ((10_001, 120), True)],
    ids=lambda value: f"{value[0]}x{value[1]}" if isinstance(value, tuple) else f"converted={value}",
)
def test_the_side_limits_decide_whether_a_jpeg_goes_as_posted(size, converted):
    data = encode(photo("coffee.jpg").resize(size), "JPEG", quality=85)

    result = prepare_for_rekognition(data)

    assert result.converted is converted
    assert (result.data == data) is not converted
    image = valid_output(result)
    assert all(80 <= side <= 10_000 for side in image.size)


@pytest.mark.parametrize(
    ("size", "quality", "converted"),
    [((4000, 3000), 95, True), ((4000, 3000), 30, False), ((2048, 1536), 100, False), ((2049, 1536), 100, True)],
    ids=["12MP-over-1MiB", "12MP-under-1MiB", "2048px-over-1MiB", "2049px-over-1MiB"],
)
def test_a_jpeg_goes_as_posted_only_if_it_is_small_or_no_larger_than_labelling_needs(size, quality, converted):
    grain = pictures.grain(size, 40)
    source = Image.blend(photo("coffee.jpg").resize(size), grain, 0.3)
    data = encode(source, "JPEG", quality=quality)
    assert (len(data) > MiB) is (quality > 50)

    result = prepare_for_rekognition(data)

    assert result.converted is converted
    image = valid_output(result)
    if converted:  # decoded at 1/2 (2000x1500; 1025x768 from 2049 px), well under a MiB as a JPEG
        assert 1024 <= max(image.size) <= 2048 and len(result.data) < MiB
        assert_looks_like(image, source, tolerance=12)
    else:
        assert result.data == data


# ------------------------------------------------------------------------------------- other formats


@pytest.mark.parametrize("kind", list(CONVERTED_KINDS))
@pytest.mark.parametrize("name", ["cat.jpg", "coffee.jpg"])
def test_every_postable_format_becomes_a_jpeg_of_the_same_photo(kind, name):
    expected_format, make = CONVERTED_KINDS[kind]
    source = photo(name)
    data = cat_as(kind) if name == "cat.jpg" else make(source)

    result = prepare_for_rekognition(data)

    assert result.converted is True
    assert result.source_format == expected_format
    image = valid_output(result)
    assert image.size == source.size  # small enough already: only re-encoded
    # The same photo with the same colours (a CMYK JPEG that came out inverted would fail here).
    assert_looks_like(image, source)


def test_an_ico_is_converted():
    result = prepare_for_rekognition(cat_as("ico"))

    assert (result.converted, result.source_format) == (True, "ICO")
    image = valid_output(result)
    assert image.size == (80, 80)  # the 64 px icon, scaled up to the minimum side
    assert_looks_like(image, photo("logo_alpha.png"), tolerance=15)


def test_an_opaque_rgba_png_is_flattened_to_a_jpeg():
    result = prepare_for_rekognition(cat_as("png-rgba"))

    assert (result.converted, result.source_format) == (True, "PNG")
    image = valid_output(result)
    assert image.mode == "RGB"
    assert image.size == (240, 240)
    assert_looks_like(image, photo("logo_alpha.png"))


# ------------------------------------------------------------------------------------------ transparency


def logo_with_hole() -> Image.Image:
    """The RGBA logo with an 80x80 fully transparent, black-underneath hole in its top-left corner."""
    logo = photo("logo_alpha.png").convert("RGBA")
    logo.paste((0, 0, 0, 0), (0, 0, 80, 80))
    return logo


def cat_with_keyed_box(mode: str) -> bytes:
    """An L or RGB PNG whose tRNS chunk makes pure black transparent, with a black box painted in."""
    image = photo("cat.jpg").convert(mode)
    key = 0 if mode == "L" else (0, 0, 0)
    ImageDraw.Draw(image).rectangle((0, 0, 79, 79), fill=key)
    return encode(image, "PNG", transparency=key)


TRANSPARENT_SOURCES: dict[str, Callable[[], bytes]] = {
    "rgba png": lambda: encode(logo_with_hole(), "PNG"),
    "la png": lambda: encode(logo_with_hole().convert("LA"), "PNG"),
    "palette png, transparent index": lambda: encode(palette_with_transparent_box(photo(), (0, 0, 79, 79)), "PNG"),
    "palette png, alpha per entry": lambda: encode(logo_with_hole().quantize(colors=64), "PNG"),
    "greyscale png, tRNS key": lambda: cat_with_keyed_box("L"),
    "rgb png, tRNS key": lambda: cat_with_keyed_box("RGB"),
    "gif, transparent index": lambda: encode(palette_with_transparent_box(photo(), (0, 0, 79, 79)), "GIF"),
    "webp with alpha": lambda: encode(logo_with_hole(), "WEBP", quality=90),
    "avif with alpha": lambda: encode(logo_with_hole(), "AVIF", quality=90),
    "heic with alpha": lambda: encode(logo_with_hole(), "HEIF", quality=90),
    "rgba tiff": lambda: encode(logo_with_hole(), "TIFF"),
}


@pytest.mark.parametrize("kind", list(TRANSPARENT_SOURCES))
def test_transparent_areas_become_white(kind):
    data = TRANSPARENT_SOURCES[kind]()
    source = decode(data)
    assert source.mode in ("RGBA", "LA", "P", "PA") or "transparency" in source.info  # really transparent

    result = prepare_for_rekognition(data)

    assert result.converted is True
    image = valid_output(result)
    assert image.size == source.size
    # The hole's pixels are black underneath: only flattening onto white makes them white.
    assert is_white(image.getpixel((40, 40)))
    # Opaque parts keep their colour.
    opaque = source.convert("RGBA").getpixel((150, 150))
    assert opaque[3] == 255
    got = image.convert("RGB").getpixel((150, 150))
    assert max(abs(a - b) for a, b in zip(got, opaque[:3], strict=True)) < 40


# ---------------------------------------------------------------------------------------------- animation


def two_frames(fmt: str) -> bytes:
    """Frame 0 a red-tinted photo, frame 1 solid blue."""
    first = Image.blend(photo("cat.jpg"), Image.new("RGB", (451, 300), RED), 0.8)
    second = Image.new("RGB", first.size, BLUE)
    return encode(first, fmt, save_all=True, append_images=[second], duration=100, loop=0)


@pytest.mark.parametrize(("fmt", "converted"), [("GIF", True), ("WEBP", True), ("PNG", False)])
def test_the_first_frame_of_an_animation_is_the_one_labelled(fmt, converted):
    data = two_frames(fmt)
    with Image.open(io.BytesIO(data)) as source:
        assert source.n_frames == 2
        assert is_red(source.convert("RGB").getpixel((225, 150)))
        source.seek(1)
        assert is_blue(source.convert("RGB").getpixel((225, 150)))

    result = prepare_for_rekognition(data)

    assert result.converted is converted  # an APNG within the limits goes as posted: its default image is frame 0
    image = valid_output(result).convert("RGB")
    assert image.size == (451, 300)
    for point in [(10, 10), (225, 150), (440, 290)]:
        assert is_red(image.getpixel(point)), image.getpixel(point)


# ------------------------------------------------------------------------------------- bit depths & modes


def sixteen_bit_rgb_png(image: Image.Image) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one), each sample the 8-bit one repeated."""
    width, height = image.size
    samples = image.convert("RGB").tobytes()
    doubled = bytearray(len(samples) * 2)
    doubled[0::2] = samples
    doubled[1::2] = samples
    stride = width * 6
    rows = b"".join(b"\x00" + doubled[y * stride : (y + 1) * stride] for y in range(height))
    return handmade_png(width, height, 16, 2, zlib.compress(rows))


def test_a_16_bit_greyscale_png_is_scaled_to_8_bits_not_clipped():
    grey = photo("cat.jpg").convert("L")
    sixteen = grey.convert("I").point(lambda value: value * 257).convert("I;16")
    data = encode(sixteen, "PNG")
    assert decode(data).mode == "I;16"

    result = prepare_for_rekognition(data)

    assert (result.converted, result.source_format) == (True, "PNG")
    image = valid_output(result)
    assert image.size == grey.size
    assert_looks_like(image, grey, tolerance=3)  # not all white (clipped) nor all black


def test_a_16_bit_greyscale_png_with_a_transparent_key_still_shows_the_photo():
    grey = photo("cat.jpg").convert("L")
    sixteen = grey.convert("I").point(lambda value: value * 257).convert("I;16")
    data = encode(sixteen, "PNG", transparency=0)
    assert "transparency" in decode(data).info

    result = prepare_for_rekognition(data)

    image = valid_output(result)
    # Pillow turns I;16 into RGBA by clipping every sample to white; the photo must survive instead.
    assert_looks_like(image, grey, tolerance=3)


def test_a_16_bit_rgb_png_keeps_its_colours():
    source = photo("cat.jpg")

    result = prepare_for_rekognition(sixteen_bit_rgb_png(source))

    image = valid_output(result)
    assert image.size == source.size
    assert_looks_like(image, source, tolerance=3)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("1", "PNG"), ("1", "TIFF"), ("L", "BMP"), ("P", "BMP"), ("F", "TIFF"), ("YCbCr", "TIFF"), ("LAB", "TIFF")],
)
def test_unusual_modes_are_flattened_to_a_jpeg_of_the_same_photo(mode, fmt):
    source = photo("coffee.jpg")
    if mode == "F":
        image = source.convert("L").convert("F")
    elif mode == "P":
        image = source.quantize(colors=256)
    else:
        image = source.convert(mode)

    result = prepare_for_rekognition(encode(image, fmt))

    output = valid_output(result)
    assert output.size == source.size
    expected = source.convert("L") if mode in ("1", "L", "F") else source
    if mode == "1":  # dithered: compare at 1/6 scale, where the dots average back into greys
        assert_looks_like(output, expected, tolerance=15, reduce=6)
    else:
        assert_looks_like(output, expected, tolerance=8)


# ----------------------------------------------------------------------------------------- sizes & geometry


@pytest.mark.parametrize(
    ("size", "fmt", "expected"),
    [
        ((16, 16), "PNG", (80, 80)),
        ((16, 16), "ICO", (80, 80)),
        ((16, 16), "GIF", (80, 80)),
        ((32, 32), "JPEG", (80, 80)),
        ((1, 1), "PNG", (80, 80)),
        ((48, 24), "WEBP", (160, 80)),
        ((24, 60), "BMP", (80, 200)),
    ],
    ids=lambda value: f"{value[0]}x{value[1]}" if isinstance(value, tuple) else str(value),
)
def test_tiny_icons_are_scaled_up_to_80_px_a_side(size, fmt, expected):
    icon = photo("logo_alpha.png").resize(size, Image.Resampling.LANCZOS)
    if fmt in ("JPEG", "BMP"):
        icon = icon.convert("RGB")
    params = {"sizes": [size]} if fmt == "ICO" else {}

    result = prepare_for_rekognition(encode(icon, fmt, **params))

    assert result.converted is True
    image = valid_output(result)
    assert image.size == expected
    if size[0] >= 16:
        assert_looks_like(image, icon.convert("RGB"), tolerance=20)


def test_a_panorama_is_scaled_to_a_2048_long_side_unless_its_short_side_would_drop_under_80(panorama_jpeg):
    result = prepare_for_rekognition(panorama_jpeg)

    assert result.converted is True
    image = valid_output(result)
    assert image.size == (2400, 80)  # 12000x400 at 1/5: the short side decides, the aspect ratio is kept
    assert_looks_like(image, photo("rocket.jpg"), tolerance=12)


@pytest.mark.parametrize(
    ("size", "expected"), [((30_000, 100), (10_000, 80)), ((100, 30_000), (80, 10_000))], ids=["wide", "tall"]
)
def test_an_extreme_panorama_is_fitted_and_padded_not_stretched(size, expected):
    # Solid red on a synthetic strip: the red band's extent in the output shows the geometry exactly.
    data = encode(Image.new("RGB", size, RED), "PNG")
    result = prepare_for_rekognition(data)

    image = valid_output(result)
    assert image.size == expected
    # 300:1 is kept: a 10000 px long side leaves about 33 px of picture, centred between white padding.
    long_axis = 0 if size[0] > size[1] else 1
    middle = expected[long_axis] // 2

    def pixel(along_short: int) -> tuple[int, int, int]:
        return image.getpixel((middle, along_short) if long_axis == 0 else (along_short, middle))

    red = [along for along in range(80) if is_red(pixel(along))]
    assert 28 <= len(red) <= 38
    assert red == list(range(red[0], red[-1] + 1))
    assert abs((red[0] + red[-1]) / 2 - 39.5) <= 2
    assert is_white(pixel(0)) and is_white(pixel(79))


def test_a_50_megapixel_camera_jpeg_is_scaled_down(camera_jpeg):
    result = prepare_for_rekognition(camera_jpeg)

    assert result.converted is True
    assert result.source_format == "JPEG"
    image = valid_output(result)
    assert image.size == (1083, 722)  # decoded at 1/8, the smallest DCT scale still reaching 1024 px: no resampling
    assert abs(image.width / image.height - 8660 / 5774) < 0.002
    assert len(result.data) < MiB
    assert_looks_like(image, photo("cat.jpg"), tolerance=12)


def test_an_over_5_mib_jpeg_within_the_pixel_limits_is_reencoded_under_5_mib(heavy_jpeg):
    result = prepare_for_rekognition(heavy_jpeg)

    assert result.converted is True
    image = valid_output(result)
    assert len(result.data) <= 5 * MiB
    assert image.size == (1200, 800)  # 2400x1600 decoded at 1/2


def test_an_over_5_mib_png_within_the_pixel_limits_becomes_a_jpeg_under_5_mib():
    data = encode(photo("rocket.jpg").resize((1400, 1400)), "PNG", compress_level=0)
    assert len(data) > 5 * MiB

    result = prepare_for_rekognition(data)

    assert (result.converted, result.source_format) == (True, "PNG")
    image = valid_output(result)
    assert len(result.data) <= 5 * MiB
    assert image.size == (1400, 1400)


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_large_transparent_png_is_reduced_then_flattened_and_turned(orientation):
    """4500x3000 RGBA: reduced 2x (alpha-weighted) before flattening, then resampled to 2048; the transparent
    box (black underneath) comes out white, the photo keeps its colours, an EXIF turn still applies."""
    logo = photo("cat.jpg").convert("RGBA").resize((4500, 3000), Image.Resampling.BILINEAR)
    logo.paste((0, 0, 0, 0), (0, 0, 1500, 1500))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    data = encode(logo, "PNG", compress_level=1, exif=exif.tobytes())

    result = prepare_for_rekognition(data)

    image = valid_output(result).convert("RGB")
    assert image.size == ((2048, 1365) if orientation == 1 else (1365, 2048))
    upright = logo.convert("RGB") if orientation == 1 else logo.convert("RGB").transpose(Image.Transpose.ROTATE_270)
    corner = (300, 300) if orientation == 1 else (image.width - 300, 300)  # the box, wherever the turn put it
    assert is_white(image.getpixel(corner))
    assert_looks_like(image.crop((0, 800, 1365, 1365)), upright.resize(image.size).crop((0, 800, 1365, 1365)))


def test_jpeg_quality_steps_down_until_the_size_limit_is_met(monkeypatch):
    import bot.images

    data = encode(photo("rocket.jpg"), "BMP")
    first_try = prepare_for_rekognition(data)
    monkeypatch.setattr(bot.images, "REKOGNITION_MAX_BYTES", len(first_try.data) * 3 // 4)

    smaller = prepare_for_rekognition(data)

    assert len(smaller.data) <= len(first_try.data) * 3 // 4
    assert (smaller.width, smaller.height) == (640, 427)
    assert_looks_like(decode(smaller.data), photo("rocket.jpg"))

    monkeypatch.setattr(bot.images, "REKOGNITION_MAX_BYTES", 2_000)
    expect_error(data, ImageTooLarge)


# ---------------------------------------------------------------------------------------- EXIF orientation


def cat_with_red_corner(size: tuple[int, int] = (451, 300)) -> Image.Image:
    """Landscape cat photo with a red box over its stored top-left corner."""
    image = photo("cat.jpg").resize(size) if size != (451, 300) else photo("cat.jpg")
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 5, size[1] // 5), fill=RED)
    return image


def red_corner(image: Image.Image) -> str:
    """Which corner of the image the red box is in, as a viewer sees it."""
    w, h = image.size
    corners = {
        "top-left": (w // 20, h // 20),
        "top-right": (w - 1 - w // 20, h // 20),
        "bottom-left": (w // 20, h - 1 - h // 20),
        "bottom-right": (w - 1 - w // 20, h - 1 - h // 20),
    }
    [corner] = [name for name, point in corners.items() if is_red(image.convert("RGB").getpixel(point))]
    return corner


# Where the stored top-left corner appears once the EXIF orientation is applied, and whether sides swap.
ORIENTATIONS = {
    2: ("top-right", False),  # mirrored
    3: ("bottom-right", False),  # upside down
    4: ("bottom-left", False),
    5: ("top-left", True),
    6: ("top-right", True),  # camera held upright, turned clockwise: the usual phone portrait
    7: ("bottom-right", True),
    8: ("bottom-left", True),
}


@pytest.mark.parametrize("orientation", list(ORIENTATIONS))
def test_an_exif_rotated_jpeg_comes_out_as_a_viewer_sees_it(orientation):
    corner, swapped = ORIENTATIONS[orientation]
    data = with_exif_orientation(encode(cat_with_red_corner(), "JPEG", quality=92), orientation)
    assert decode(data).size == (451, 300)  # stored landscape

    result = prepare_for_rekognition(data)

    assert result.converted is True
    image = valid_output(result)
    assert image.size == ((300, 451) if swapped else (451, 300))
    assert red_corner(image) == corner


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "HEIF", "AVIF"])
def test_exif_orientation_is_honoured_once_in_other_formats(fmt):
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    data = encode(cat_with_red_corner(), fmt, exif=exif.tobytes())

    result = prepare_for_rekognition(data)

    image = valid_output(result)
    assert image.size == (300, 451)  # portrait, and not squashed back into 451x300
    assert red_corner(image) == "top-right"
    assert_looks_like(image, cat_with_red_corner().transpose(Image.Transpose.ROTATE_270))


def test_a_large_exif_rotated_jpeg_is_rotated_and_scaled_down():
    data = with_exif_orientation(encode(cat_with_red_corner((4000, 2667)), "JPEG", quality=85), 8)

    result = prepare_for_rekognition(data)

    image = valid_output(result)
    assert max(image.size) == 2000  # decoded at 1/2
    assert image.height > image.width
    assert abs(image.height / image.width - 4000 / 2667) < 0.002
    assert red_corner(image) == "bottom-left"


def test_a_jpeg_with_a_garbled_exif_block_still_goes_through():
    cat = fixture_bytes("cat.jpg")
    garbled = cat[:2] + b"\xff\xe1" + struct.pack(">H", 2 + 6 + 40) + b"Exif\x00\x00" + b"MM\x00*" + bytes(36) + cat[2:]

    result = prepare_for_rekognition(garbled)

    image = valid_output(result)
    assert image.size == (451, 300)
    assert_looks_like(image, photo("cat.jpg"))


# --------------------------------------------------------------------------------------- decompression bombs


@pytest.fixture
def pixel_allocations(monkeypatch) -> list[tuple[int, int]]:
    """Sizes of every image buffer Pillow allocates from Python (decoding allocates through Image.core.new)."""
    sizes: list[tuple[int, int]] = []
    real_new = Image.core.new

    def spy(mode, size, *args):
        sizes.append(tuple(size))
        return real_new(mode, size, *args)

    monkeypatch.setattr(Image.core, "new", spy)
    return sizes


def patched(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    packed = struct.pack(fmt, *values)
    return data[:offset] + packed + data[offset + len(packed) :]


def jpeg_claiming(width: int, height: int) -> bytes:
    data = fixture_bytes("cat.jpg")
    sof = data.index(b"\xff\xc0")
    return patched(data, sof + 5, ">HH", height, width)


def tiff_claiming(width: int, height: int) -> bytes:
    data = encode(photo("cat.jpg"), "TIFF")
    assert data[:2] == b"II"
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        tag, kind = struct.unpack_from("<HH", data, entry)
        if tag in (256, 257):
            data = patched(data, entry + 8, "<H" if kind == 3 else "<I", width if tag == 256 else height)
    return data


HEADER_BOMBS: dict[str, Callable[[], bytes]] = {
    "png 50000x50000": lambda: handmade_png(50_000, 50_000, 8, 2, zlib.compress(b"\x00" * 1000)),
    "jpeg 65000x65000": lambda: jpeg_claiming(65_000, 65_000),
    "gif 65535x65535": lambda: patched(encode(photo(), "GIF"), 6, "<HH", 65_535, 65_535),
    "bmp 40000x40000": lambda: patched(encode(photo(), "BMP"), 18, "<ii", 40_000, 40_000),
    "tiff 60000x60000": lambda: tiff_claiming(60_000, 60_000),
    "png 11000x11000 (under Pillow's limit)": lambda: handmade_png(11_000, 11_000, 8, 2, zlib.compress(b"\x00" * 99)),
}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("kind", list(HEADER_BOMBS))
def test_a_header_claiming_huge_dimensions_is_refused_before_any_pixel_is_allocated(kind, pixel_allocations):
    data = HEADER_BOMBS[kind]()
    expect_error(data, ImageTooLarge)

    assert all(w * h < 1_000_000 for w, h in pixel_allocations), pixel_allocations


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("kind", ["pillow-limit", "our-limit"])
def test_a_real_decompression_bomb_is_refused_before_any_pixel_is_allocated(kind, png_bombs, pixel_allocations):
    data = png_bombs[kind]
    assert len(data) < 100_000  # a few tens of KB that would inflate to ~120-200 megapixels
    error = expect_error(data, ImageTooLarge)

    assert pixel_allocations == []
    if kind == "our-limit":
        assert "11000×11000" in str(error)
        assert "121 MP" in str(error)


def progressive_jpeg_claiming(width: int, height: int) -> bytes:
    data = encode(photo("cat.jpg"), "JPEG", progressive=True)
    sof = data.index(b"\xff\xc2")
    return patched(data, sof + 5, ">HH", height, width)


def webp_claiming(width: int, height: int) -> bytes:
    data = encode(photo("cat.jpg"), "WEBP")
    frame = data.index(b"\x9d\x01\x2a")  # the VP8 start code; 14-bit width and height follow
    return patched(data, frame + 3, "<HH", width, height)


# Only a baseline JPEG decodes at a fraction of its size (DCT scaling); every other image costs its full size, and
# more (a progressive JPEG keeps all its coefficients, WebP's decoder keeps copies), so its cap is lower.
PIXEL_LIMITS: dict[str, tuple[Callable[[int, int], bytes], int]] = {
    "baseline jpeg": (jpeg_claiming, 120),
    "progressive jpeg": (progressive_jpeg_claiming, 50),
    "png": (lambda w, h: handmade_png(w, h, 8, 2, zlib.compress(b"\x00" * 99)), 50),
    "tiff": (tiff_claiming, 50),
    "webp": (webp_claiming, 25),
}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("kind", list(PIXEL_LIMITS))
def test_each_kind_of_image_has_a_pixel_limit_that_bounds_its_decoding_memory(kind, pixel_allocations):
    claiming, megapixels = PIXEL_LIMITS[kind]
    side = math.isqrt(megapixels * 1_000_000) + 1  # a square just over the limit

    error = expect_error(claiming(side, side), ImageTooLarge)

    assert f"more than the {megapixels} MP I can open safely" in str(error)
    assert all(w * h < 1_000_000 for w, h in pixel_allocations), pixel_allocations  # refused from the header


def test_a_60_megapixel_baseline_jpeg_still_opens():
    result = prepare_for_rekognition(jpeg_claiming(12_000, 5_000))  # the cat's data, a camera's header

    assert result.converted is True
    assert valid_output(result).size == (1500, 625)  # decoded at 1/8


# ------------------------------------------------------------------------------------ damaged & non-images


DAMAGEABLE = ["jpeg", "png", "png-rgba", "ico", *CONVERTED_KINDS]


@pytest.mark.parametrize("cut", [1 / 2, 1 / 3, 3 / 4])
@pytest.mark.parametrize("kind", DAMAGEABLE)
def test_a_truncated_file_is_reported_as_damaged_or_unreadable(kind, cut):
    data = cat_as(kind)
    valid_output(prepare_for_rekognition(data))  # the whole file is fine

    expect_error(data[: int(len(data) * cut)], CorruptImage, UnsupportedImage)


def test_a_multi_picture_jpeg_cut_after_its_first_picture_still_gives_that_picture():
    data = encode(photo("cat.jpg"), "MPO", save_all=True, append_images=[photo("coffee.jpg")])
    second = data.index(b"\xff\xd8\xff", 2)  # where the second picture starts

    result = prepare_for_rekognition(data[: second + (len(data) - second) // 2])

    assert result.source_format == "MPO"
    image = valid_output(result)
    assert image.size == (451, 300)
    assert_looks_like(image, photo("cat.jpg"))


@pytest.mark.parametrize("kind", DAMAGEABLE)
def test_a_file_cut_inside_its_header_is_reported_as_unreadable(kind):
    expect_error(cat_as(kind)[:24], CorruptImage, UnsupportedImage)


@pytest.mark.parametrize("kind", DAMAGEABLE)
def test_a_broken_signature_makes_a_file_unsupported(kind):
    data = bytearray(cat_as(kind))
    for offset in range(12):
        data[offset] ^= 0xA5

    expect_error(bytes(data), UnsupportedImage)


@pytest.mark.parametrize("kind", DAMAGEABLE)
def test_flipped_bytes_give_a_valid_image_or_a_short_error_never_anything_else(kind):
    original = cat_as(kind)
    rng = random.Random(f"flip-{kind}")
    outcomes: set[str] = set()
    for _ in range(30):
        damaged = bytearray(original)
        for _ in range(rng.choice([1, 4, 16])):
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        try:
            result = prepare_for_rekognition(bytes(damaged))
        except ImageError as error:
            # ImageTooLarge is fair too: a flipped bit in a header can claim enormous dimensions.
            assert isinstance(error, CorruptImage | UnsupportedImage | ImageTooLarge)
            assert_user_facing(error)
            outcomes.add(type(error).__name__)
        else:
            # Formats without checksums decode flipped pixels as different pixels; that is still an image.
            valid_output(result)
            outcomes.add("valid")
    assert outcomes


def test_a_png_with_a_bad_checksum_in_its_header_is_refused():
    data = bytearray(cat_as("png"))
    data[16 + 3] ^= 0x01  # inside IHDR's width field, so the chunk's CRC no longer matches

    expect_error(bytes(data), CorruptImage, UnsupportedImage)


def test_a_png_whose_pixel_data_is_damaged_is_refused():
    data = cat_as("png")
    idat = data.index(b"IDAT") + 4
    damaged = data[: idat + 200] + bytes(400) + data[idat + 600 :]

    expect_error(damaged, CorruptImage)


@pytest.mark.parametrize(
    "damage",
    ["IDAT checksum wrong", "IEND missing", "last 20 bytes missing", "second frame cut off"],
)
def test_a_png_that_pillow_decodes_but_strict_decoders_reject_is_reencoded_not_sent_as_is(damage):
    data = cat_as("png")
    iend = data.rindex(b"IEND") - 4
    if damage == "IDAT checksum wrong":
        damaged = data[: iend - 1] + bytes([data[iend - 1] ^ 0xFF]) + data[iend:]
    elif damage == "IEND missing":
        damaged = data[:iend]
    elif damage == "last 20 bytes missing":
        damaged = data[:-20]
    else:
        data = two_frames("PNG")
        damaged = data[: data.index(b"fdAT") + 100]  # an APNG whose default image (frame 0) is whole
    assert damaged != data

    result = prepare_for_rekognition(damaged)

    assert (result.converted, result.source_format) == (True, "PNG")
    image = valid_output(result)
    assert image.size == (451, 300)
    if damage == "second frame cut off":
        assert is_red(image.getpixel((225, 150)))
    else:
        assert_looks_like(image, photo("cat.jpg"))


NOT_IMAGES: dict[str, bytes] = {
    "empty": b"",
    "one byte": b"\xff",
    "random bytes": random.Random(7).randbytes(20_000),
    "pdf": b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
    "svg": (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">'
        b'<circle cx="100" cy="100" r="80" fill="red"/></svg>\n'
    ),
    "svg without xml declaration": b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"></svg>',
    "html": b"<!doctype html><html><body><img src='cat.jpg'></body></html>",
    "text": "A cat, probably. 🐈\n".encode(),
    "zip": b"PK\x03\x04" + bytes(60),
    # Formats Pillow could decode but the module never lets near user files.
    "eps (would run Ghostscript)": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n",
    "psd header": b"8BPS\x00\x01" + bytes(6) + struct.pack(">HIIHH", 3, 100, 100, 8, 3) + bytes(64),
}


@pytest.mark.parametrize("kind", list(NOT_IMAGES))
def test_a_file_that_is_not_a_supported_image_is_unsupported(kind):
    error = expect_error(NOT_IMAGES[kind], UnsupportedImage)

    assert "JPEG" in str(error) and "HEIC" in str(error)  # says what it can label


def test_ppm_is_refused_although_pillow_could_read_it():
    data = encode(photo("cat.jpg"), "PPM")
    assert decode(data).size == (451, 300)

    expect_error(data, UnsupportedImage)


def test_the_errors_are_image_errors():
    for error in (UnsupportedImage, CorruptImage, ImageTooLarge):
        assert issubclass(error, ImageError)
    assert issubclass(ImageError, Exception)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_after_an_error_the_next_image_still_works(png_bombs):
    sequence = [
        (cat_as("heic")[: len(cat_as("heic")) // 2], (CorruptImage, UnsupportedImage)),
        (png_bombs["our-limit"], (ImageTooLarge,)),
        (fixture_bytes("cat.jpg")[:5000], (CorruptImage,)),
        (NOT_IMAGES["svg"], (UnsupportedImage,)),
        (HEADER_BOMBS["png 50000x50000"](), (ImageTooLarge,)),
    ]
    for bad, allowed in sequence:
        expect_error(bad, *allowed)

        good = prepare_for_rekognition(fixture_bytes("rocket.jpg"))
        assert good.data == fixture_bytes("rocket.jpg")
        assert (good.width, good.height, good.converted) == (640, 427, False)

        converted = prepare_for_rekognition(cat_as("webp"))
        image = valid_output(converted)
        assert image.size == (451, 300)
        assert_looks_like(image, photo("cat.jpg"))


# ---- moderation of animations: the frames checked besides the first ------------------------------------------------


def frames_checked(data: bytes, limit: int = 10) -> list[Image.Image]:
    """moderation_frames' frames, each checked against DetectModerationLabels' image contract, opened."""
    frames = moderation_frames(data, limit)
    for frame in frames:
        check_rekognition_image(frame)
    return [Image.open(io.BytesIO(frame)).convert("RGB") for frame in frames]


def test_an_animations_frames_after_the_first_are_chosen_over_its_whole_length():
    frames = frames_checked(pictures.animation(10, unsafe=(6,)))

    assert len(frames) == 9 and all(frame.size == (320, 240) for frame in frames)  # frames 1-9: the 7th among them
    assert [pictures.is_unsafe_frame(_jpeg(frame)) for frame in frames] == [i == 5 for i in range(9)]
    assert moderation_frames(pictures.animation(10), 1) == ()  # LABELBOT_MODERATION_FRAMES=1: the first only
    assert moderation_frames(fixture_bytes("cat.jpg"), 10) == ()
    assert moderation_frames(encode(photo("cat.jpg"), "PNG"), 10) == ()
    assert moderation_frames(encode(photo("cat.jpg"), "GIF"), 10) == ()


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_every_animated_format_is_checked_and_repeats_are_checked_once(fmt):
    assert len(frames_checked(pictures.animation(6, fmt=fmt))) == 5
    assert len(frames_checked(pictures.animation(12, distinct=3, fmt=fmt))) == 2  # three pictures in turn


def test_frames_are_chosen_by_time_not_by_count():
    """A first frame shown 9 s, nine of 0.1 s each: with 3 frames, the middle of the time is still the first frame,
    and the end is the last one."""
    frames = [Image.new("RGB", (200, 150), (20 * i, 40, 200 - 20 * i)) for i in range(10)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=[9000] + [100] * 9, loop=0)

    [last] = frames_checked(out.getvalue(), 3)

    assert all(abs(a - b) <= 16 for a, b in zip(last.getpixel((100, 75)), (180, 40, 20), strict=True))


def test_hundreds_of_frames_or_frames_of_other_sizes_give_at_most_the_limit():
    assert len(frames_checked(pictures.animation(300), 10)) == 9
    parts = [Image.new("RGB", (320, 240), (0, 0, 200)), Image.new("RGB", (90, 40), (200, 0, 0))]
    parts.append(Image.new("RGB", (500, 400), (0, 200, 0)))  # past the canvas: cut to it
    out = io.BytesIO()
    parts[0].save(out, "GIF", save_all=True, append_images=parts[1:], duration=100)
    assert [frame.size for frame in frames_checked(out.getvalue())] == [(320, 240), (320, 240)]


def test_an_animation_past_the_budgets_or_cut_short_is_refused_with_a_reason_never_half_checked():
    from tests.test_fuzz_images import fix_png_crc, put

    apng = pictures.animation(5, fmt="PNG")
    actl = apng.index(b"acTL") - 4
    claims = fix_png_crc(put(apng, actl + 8, ">I", 0x80000000), actl)  # 2**31 frames, the header says
    with pytest.raises(ImageTooLarge, match=r"2,147,483,648 frames of 320×240: too many for me to check"):
        moderation_frames(claims, 10)

    gif = pictures.animation(10)
    with pytest.raises(CorruptImage, match="damaged after its first frame"):
        moderation_frames(gif[: len(gif) * 2 // 3], 10)
    assert prepare_for_rekognition(gif[: len(gif) * 2 // 3]).format == "JPEG"  # its first frame is still fine


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()
