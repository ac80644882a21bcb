"""where_picture: the prepared image and its boxes in, a JPEG with the boxes where Rekognition saw the things out."""

from __future__ import annotations

import gettext
import io
import logging
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageChops, ImageFont

from bot import where_picture
from bot.i18n import ENGLISH, LOCALES, Words, read_label_table, words_for
from bot.images import prepare_for_rekognition
from bot.render import Instance, Label
from bot.where_picture import COVER_COLOUR, MAX_SIDE, PALETTE, caption_font, caption_text, covered_copy, draw_where
from tests.pictures import ink_pixels, region, screenshot_with_lines

ROOT = Path(__file__).resolve().parents[1]
WHITE, GREEN = (255, 255, 255), (0, 200, 0)
# A private-use code point no font has: drawn as the font's missing-glyph box (.notdef, "tofu").
NO_GLYPH = "\U0010fffd"


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


def rendering(font, text: str) -> tuple[tuple[int, int], bytes]:
    """What the font draws for the text: its mask's size and pixels."""
    mask = font.getmask(text)
    return mask.size, bytes(mask)


def test_a_caption_names_the_label_in_the_channels_language():
    japanese = words_for("ja")

    assert caption_text("Cat", 97.0, japanese) == "猫 97%"
    assert caption_text("Mobile Phone", 88.6, japanese) == f"{japanese.label('Mobile Phone')} 89%"
    assert caption_text("Not A Label Anyone Translated", 90.2, japanese) == "Not A Label Anyone Translated 90%"


def test_the_english_caption_is_what_it_was():
    for confidence in (0.0, 49.5, 50.5, 89.49, 98.5, 99.2, 99.5, 99.99, 100.0):
        assert caption_text("Cat", confidence) == f"Cat {confidence:.0f}%"  # the caption before languages
    assert caption_text("Cat", 99.4, ENGLISH) == "Cat 99%"

    background = jpeg(Image.new("RGB", (1000, 500), WHITE))
    cat = [boxed("Cat", (0.3, 0.5, 0.4, 0.3))]
    assert draw_where(background, cat) == draw_where(background, cat, tr=ENGLISH)


def test_a_japanese_caption_is_drawn_in_glyphs_not_missing_glyph_boxes():
    background = jpeg(Image.new("RGB", (1000, 500), WHITE))
    cat = [boxed("Cat", (0.3, 0.5, 0.4, 0.3))]  # its tag sits on the box's top edge (y 250) from x 300

    japanese = opened(draw_where(background, cat, tr=words_for("ja")))
    boxes = opened(draw_where(background, cat, tr=Words("ja", gettext.NullTranslations(), {"Cat": NO_GLYPH})))

    # 猫 drawn where a missing glyph's box would be: the tags differ (they would match if the font lacked 猫).
    tag = (300, 205, 420, 250)
    assert close_to(japanese.getpixel((302, 247)), PALETTE[0])  # the tag is there, in the label's colour
    difference = ImageChops.difference(japanese.crop(tag), boxes.crop(tag)).convert("L")
    assert sum(difference.histogram()[81:]) > 30  # pixels that differ by more than 80
    # And in the font itself: each character of the caption is a glyph with ink, not the missing-glyph box.
    font = caption_font(22)
    missing = rendering(font, NO_GLYPH)
    for character in caption_text("Cat", 97.0, words_for("ja")).replace(" ", ""):
        drawn = rendering(font, character)
        assert drawn != missing and any(drawn[1]), character


def test_every_character_of_every_japanese_label_name_has_a_glyph_in_the_caption_font():
    font = caption_font(16)
    assert font.getname() == ("Noto Sans JP", "Regular")  # not the fallback (Pillow's Latin font)
    names = read_label_table(LOCALES / "ja" / "labels.tsv").values()
    full_width = "".join(chr(code) for code in range(0xFF01, 0xFF5F))  # full-width ASCII: U+FF01 to U+FF5E
    kana = "".join(chr(code) for code in (*range(0x3041, 0x3097), *range(0x30A1, 0x30FB)))
    characters = set("".join(names)) | set("0123456789%") | set(full_width) | set(kana)
    characters.discard(" ")
    missing = rendering(font, NO_GLYPH)
    assert any(missing[1])  # the missing-glyph box has ink, so a character drawn the same is one the font lacks

    lacking = sorted(character for character in characters if rendering(font, character) == missing)

    assert len(characters) > 1000 and not lacking


def test_without_the_font_package_captions_fall_back_to_pillows_font_with_one_warning(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "pylopdf_fonts_jp", None)  # import fails as if it were not installed
    caption_font.cache_clear()
    where_picture._caption_font_file.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="bot.where_picture"):
            small = opened(draw_where(jpeg(Image.new("RGB", (1000, 500), WHITE)), [boxed("Cat", (0.3, 0.5, 0.4, 0.3))]))
            draw_where(jpeg(Image.new("RGB", (2000, 1000), WHITE)), [boxed("Cat", (0.3, 0.5, 0.4, 0.3))])

        warnings = [record for record in caplog.records if record.name == "bot.where_picture"]
        assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING  # one, for both sizes
        assert "pylopdf-fonts-jp" in warnings[0].getMessage()
        assert caption_font(22).getname() == ImageFont.load_default(size=22).getname()
        assert close_to(small.getpixel((302, 247)), PALETTE[0]) and close_to(small.getpixel((300, 300)), PALETTE[0])
    finally:
        caption_font.cache_clear()
        where_picture._caption_font_file.cache_clear()


def test_importing_the_module_opens_no_font():
    """Zero start-up cost: the font is found and opened at the first caption drawn (the first Show where press)."""
    code = (
        "import sys, bot.where_picture as w; "
        "print('pylopdf_fonts_jp' in sys.modules, w._caption_font_file.cache_info().currsize, "
        "w.caption_font.cache_info().currsize)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "0", "0"]
