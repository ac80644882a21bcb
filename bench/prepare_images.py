"""Image preparation: time and peak memory to a Rekognition-ready image, per format and size, against plain Pillow.

    .venv/bin/python -m bench.prepare_images [--runs 7] [--cpu 0]

Each case runs in its own fresh subprocess pinned to one CPU, twice: `bot.images.prepare_for_rekognition`, and the
baseline "open, convert('RGB'), thumbnail((2048, 2048)), save JPEG". Time is the p50 of --runs calls (after one
warm-up call). Memory is the kernel's peak resident set of that process (VmHWM in /proc/self/status: it counts
Pillow's C buffers, which tracemalloc cannot see, and unlike ru_maxrss it starts afresh at exec instead of
inheriting the parent's peak) minus its resident set just before the first call (interpreter, imports and the
input bytes already loaded): the peak the preparation itself adds.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
MiB = 1024 * 1024

# name -> (format, width, height, grain, quality): a fixture photo scaled up, with sensor-like grain so the file
# is as large as a camera's (grain 0: a smooth, small file).
CASES: dict[str, tuple[str, int, int, int, int]] = {
    "JPEG 12 MP, under 1 MiB (sent as is)": ("JPEG", 4000, 3000, 0, 80),
    "JPEG 12 MP, camera-sized": ("JPEG", 4000, 3000, 12, 90),
    "JPEG 24 MP, camera-sized, under 5 MiB": ("JPEG", 6000, 4000, 8, 85),
    "JPEG 24 MP, over 5 MiB": ("JPEG", 6000, 4000, 14, 92),
    "HEIC 12 MP (phone)": ("HEIF", 4032, 3024, 3, 60),
    "PNG 8 MP (3840×2160 photo)": ("PNG", 3840, 2160, 8, 0),
    "WebP 12 MP": ("WEBP", 4000, 3000, 8, 85),
    "GIF 2 MP, 3 frames": ("GIF", 1600, 1200, 0, 0),
}


def make_image(fmt: str, width: int, height: int, grain: int, quality: int) -> bytes:
    from PIL import Image

    import bot.images  # noqa: F401  (registers the HEIF encoder)

    with Image.open(FIXTURES / "coffee.jpg") as source:
        image = source.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    if grain:
        noise = Image.merge("RGB", [Image.effect_noise((width, height), 64) for _ in range(3)])
        image = Image.blend(image, noise, grain / 100)
    out = io.BytesIO()
    if fmt == "GIF":
        frames = [image.rotate(angle) for angle in (0, 5, 10)]
        frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    elif fmt == "PNG":
        image.save(out, "PNG", compress_level=6)
    else:
        image.save(out, fmt, quality=quality)
    return out.getvalue()


def _status_bytes(field: str) -> int:
    """VmRSS (now) or VmHWM (the peak since exec) from /proc/self/status, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def baseline(data: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
        rgb.thumbnail((2048, 2048))
        out = io.BytesIO()
        rgb.save(out, "JPEG")
        return out.getvalue()


def measure(path: str, which: str, runs: int, cpu: int) -> dict:
    """In the child: pin to one CPU, time `runs` calls, report the peak memory they added."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    from bot.images import prepare_for_rekognition
    from tests.fakes.rekognition_contract import check_rekognition_image

    data = Path(path).read_bytes()
    before = _status_bytes("VmRSS")
    prepare = (lambda d: prepare_for_rekognition(d).data) if which == "labelbot" else baseline
    out = prepare(data)  # warm-up; also the peak
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        out = prepare(data)
        times.append((time.perf_counter() - started) * 1000)
    peak = _status_bytes("VmHWM")
    try:
        fmt, width, height = check_rekognition_image(out)
        valid = f"{fmt} {width}×{height}"
    except Exception as exc:
        valid = f"not accepted: {type(exc).__name__}"
    return {
        "p50_ms": statistics.median(times),
        "peak_mb": max(0, peak - before) / MiB,
        "out_bytes": len(out),
        "output": valid,
    }


def run_child(path: Path, which: str, runs: int, cpu: int) -> dict:
    answer = subprocess.run(  # noqa: S603  (our own interpreter and module, fixed arguments)
        [sys.executable, "-m", "bench.prepare_images", "--child", str(path), which, str(runs), str(cpu)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(answer.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cpu", type=int, default=0, help="the one CPU every measurement runs on")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, which, runs, cpu = args.child
        print(json.dumps(measure(path, which, int(runs), int(cpu))))
        return

    print(
        f"{platform.machine()}, {os.cpu_count()} cores (measured on CPU {args.cpu} only), Python "
        f"{platform.python_version()}, p50 of {args.runs} runs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    header = "| case | input | labelbot p50 | labelbot peak | output | baseline p50 | baseline peak | time ratio |"
    print(header)
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in CASES.items():
            data = make_image(*spec)
            path = Path(tmp) / "input"
            path.write_bytes(data)
            ours = run_child(path, "labelbot", args.runs, args.cpu)
            plain = run_child(path, "baseline", args.runs, args.cpu)
            print(
                f"| {name} | {len(data) / MiB:.1f} MiB | {ours['p50_ms']:.0f} ms | {ours['peak_mb']:.0f} MB | "
                f"{ours['output']}, {ours['out_bytes'] / MiB:.2f} MiB | {plain['p50_ms']:.0f} ms | "
                f"{plain['peak_mb']:.0f} MB | {ours['p50_ms'] / plain['p50_ms']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
