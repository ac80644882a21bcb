"""The Show where picture: time to draw the boxes on an image (bot.where_picture.draw_where), per image size.

    .venv/bin/python -m bench.where_picture [--runs 9]

Each case is a photo made from a fixture at that size (with sensor-like grain, so a JPEG weighs what a camera's does)
and four labels with two boxes each, plus six text lines. Time is the p50 and the worst of --runs calls after one
warm-up call, in this process (one thread); the output's size and side are printed too. The issue's bound: under
300 ms for a 24 MP photo.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import time
from pathlib import Path

from PIL import Image

from bot.images import prepare_for_rekognition
from bot.render import Instance, Label
from bot.where_picture import draw_where

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
CASES = {  # name -> (width, height, EXIF orientation or 0, drawn on: the original or what prepare_for_rekognition made)
    "24 MP JPEG original (6000×4000)": (6000, 4000, 0, "original"),
    "12 MP JPEG original (4000×3000)": (4000, 3000, 0, "original"),
    "12 MP JPEG, EXIF-rotated (orientation 6), prepared": (4000, 3000, 6, "prepared"),
    "2048 px prepared JPEG (2048×1536)": (2048, 1536, 0, "prepared"),
    "50 MP JPEG original (8660×5774)": (8660, 5774, 0, "original"),
}
LABELS = [
    Label(
        name,
        95.0 - index,
        instances=(Instance(0.1 + index / 5, 0.1, 0.15, 0.3, 94.0), Instance(0.1 + index / 5, 0.55, 0.15, 0.3, 88.0)),
    )
    for index, name in enumerate(("Dog", "Cat", "Person", "Bicycle"))
]
TEXT_BOXES = [(0.05, 0.02 + row * 0.015, 0.4, 0.012) for row in range(6)]


def make_photo(width: int, height: int, orientation: int) -> bytes:
    with Image.open(FIXTURES / "rocket.jpg") as source:
        image = source.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    noise = Image.merge("RGB", [Image.effect_noise((width, height), 64) for _ in range(3)])
    image = Image.blend(image, noise, 0.08)
    out = io.BytesIO()
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(out, "JPEG", quality=88, exif=exif.tobytes())
    else:
        image.save(out, "JPEG", quality=88)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, Python {platform.python_version()}, "
        f"Pillow {Image.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {args.runs} runs a case\n"
    )
    print("| case | input | p50 | worst | output |")
    print("|---|---|---|---|---|")
    for name, (width, height, orientation, drawn_on) in CASES.items():
        data = make_photo(width, height, orientation)
        if drawn_on == "prepared":
            data = prepare_for_rekognition(data).data
        draw_where(data, LABELS, TEXT_BOXES)  # warm-up: the font, the decoder
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            out = draw_where(data, LABELS, TEXT_BOXES)
            times.append((time.perf_counter() - started) * 1000)
        with Image.open(io.BytesIO(out)) as picture:
            size = f"{picture.width}×{picture.height}, {len(out) / 1e6:.2f} MB"
        print(
            f"| {name} | {len(data) / 1e6:.1f} MB | {statistics.median(times):.0f} ms | {max(times):.0f} ms | {size} |"
        )


if __name__ == "__main__":
    main()
