"""where_picture: the prepared image and its boxes in, a JPEG with the boxes where Rekognition saw the things out."""

from __future__ import annotations

import io

from PIL import Image

from bot.images import prepare_for_rekognition
from bot.render import Instance, Label
from bot.where_picture import COVER_COLOUR, MAX_SIDE, PALETTE, covered_copy, draw_where
from tests.pictures import ink_pixels, region, screenshot_with_lines

WHITE, GREEN = (255, 255, 255), (0, 200, 0)


def jpeg(image: Image.Image, **save) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, **save)
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    assert picture.format == "JPEG"
    return picture.convert("RGB")


def close_to(pixel, colour, tolerance=60) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def boxed(name: str, *boxes: tuple[float, float, float, float]) -> Label:
    return Label(name, 99.0, instances=tuple(Instance(*box, 97.0) for box in boxes))


def test_a_box_is_drawn_on_the_pixels_its_ratios_name_in_its_labels_colour():
    picture = opened(draw_where(jpeg(Image.new("RGB", (1000, 500), WHITE)), [boxed("Dog", (0.2, 0.4, 0.5, 0.4))]))

    assert picture.size == (1000, 500)
    assert close_to(picture.getpixel((450, 399)), PALETTE[0])  # its bottom edge: y = (0.4 + 0.4) x 500
    assert close_to(picture.getpixel((200, 300)), PALETTE[0]) and close_to(picture.getpixel((700, 300)), PALETTE[0])
    assert close_to(picture.getpixel((450, 300)), WHITE)  # inside is left alone
    assert close_to(picture.getpixel((800, 300)), WHITE)  # and past the box too


def test_each_label_has_its_own_colour_and_a_box_past_the_edge_is_clamped_to_the_image():
    two = [boxed("Dog", (0.1, 0.3, 0.2, 0.2)), boxed("Cat", (0.6, 0.3, 0.6, 0.2))]  # Cat's box runs off the right
    picture = opened(draw_where(jpeg(Image.new("RGB", (1000, 500), WHITE)), two))

    assert close_to(picture.getpixel((100, 200)), PALETTE[0]) and close_to(picture.getpixel((600, 200)), PALETTE[1])
    assert PALETTE[0] != PALETTE[1]
    assert close_to(picture.getpixel((998, 200)), PALETTE[1])  # clamped to the last column


def test_boxes_land_on_the_upright_thing_of_an_exif_rotated_photo():
    upright = Image.new("RGB", (600, 900), WHITE)  # a portrait photo with a green patch near its top left
    upright.paste(GREEN, (60, 90, 240, 270))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera stored it turned; viewers rotate it back upright
    stored = jpeg(upright.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())
    prepared = prepare_for_rekognition(stored).data  # what Rekognition saw, upright
    patch = (60 / 600, 90 / 900, 180 / 600, 180 / 900)  # Rekognition's ratios of the upright image

    picture = opened(draw_where(prepared, [boxed("Plant", patch)]))

    assert picture.size == (600, 900)
    assert close_to(picture.getpixel((150, 180)), GREEN)  # the patch is where it was upright
    assert close_to(picture.getpixel((60, 180)), PALETTE[0]) and close_to(picture.getpixel((240, 180)), PALETTE[0])


def test_a_50_mp_original_gives_a_picture_capped_at_2048_px_with_the_box_in_the_same_place():
    huge = jpeg(Image.new("RGB", (8660, 5774), WHITE))  # 50 MP, one colour: cheap to make

    data = draw_where(huge, [boxed("Car", (0.25, 0.25, 0.5, 0.5))])

    picture = opened(data)
    assert max(picture.size) == MAX_SIDE and len(data) < 5 * 1024 * 1024
    width, height = picture.size
    assert close_to(picture.getpixel((width // 4, height // 2)), PALETTE[0])
    assert close_to(picture.getpixel((width // 2, height // 2)), WHITE)


def test_text_lines_are_outlined_quietly_and_labels_without_boxes_draw_nothing():
    plain = jpeg(Image.new("RGB", (800, 400), (40, 40, 40)))
    picture = opened(draw_where(plain, [Label("Text", 99.0)], [(0.1, 0.1, 0.5, 0.1)]))

    edge = picture.getpixel((300, 40))
    assert close_to(edge, (235, 235, 235)) and not any(close_to(edge, colour, 30) for colour in PALETTE)
    assert close_to(picture.getpixel((300, 300)), (40, 40, 40))


def test_a_line_that_held_a_secret_is_covered_so_nothing_of_it_can_be_read_back():
    from PIL import ImageStat

    source, (plain, secret) = screenshot_with_lines("Deploy failed at 10:42", "password: hunter2-Qx9")
    original = opened(source)
    assert ink_pixels(region(original, secret)) > 500 and ImageStat.Stat(region(original, secret)).stddev[0] > 50

    picture = opened(draw_where(source, [], [plain, secret], [secret]))

    # Around the secret line, wider than its box: not one pixel of its ink, and inside the cover no detail at all
    # (what a reader or a sharpening filter would need): one flat colour, give or take JPEG's rounding.
    assert ink_pixels(region(picture, secret, grow=8)) == 0
    inside = region(picture, secret).crop((3, 3, region(picture, secret).width - 3, region(picture, secret).height - 3))
    assert max(ImageStat.Stat(inside).stddev) < 3
    assert close_to(ImageStat.Stat(inside).mean, COVER_COLOUR, 6)
    # The other line is outlined as before, its text as legible as it was.
    assert ink_pixels(region(picture, plain)) > 0.7 * ink_pixels(region(original, plain))  # JPEG blurs some
    assert close_to(picture.getpixel((round(plain[0] * 1000) + 40, round(plain[1] * 500) - 1)), (235, 235, 235), 40)


def test_the_safe_copy_covers_the_secret_lines_and_draws_nothing_else():
    source, (plain, secret) = screenshot_with_lines("Deploy failed at 10:42", "token xoxb-1234567890-abcdef")
    original = opened(source)

    copy = opened(covered_copy(source, [secret]))

    assert copy.size == original.size
    assert ink_pixels(region(copy, secret, grow=8)) == 0
    # Everything else is the screenshot as it was: no outline, no caption.
    assert ink_pixels(region(copy, plain)) > 0.7 * ink_pixels(region(original, plain))  # JPEG blurs some
    outside = [(x, 5) for x in range(0, 1000, 50)] + [(x, 495) for x in range(0, 1000, 50)]
    assert all(close_to(copy.getpixel(xy), WHITE, 12) for xy in outside)
    assert all(
        close_to(copy.getpixel((round(plain[0] * 1000) + dx, round(plain[1] * 500) - 2)), WHITE, 12) for dx in (40, 80)
    )
