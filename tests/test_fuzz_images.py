"""Fuzz: thousands of damaged images of every supported format through bot/images.py, in child processes.

Each of 31 source files (JPEG, MPO, PNG, APNG, GIF, WebP, HEIC, AVIF, BMP, TIFF, ICO in their common variants, built
from the photos in tests/fixtures) is damaged 120-220 ways, 5,043 distinct cases in all (~25 s of CPU): cut at many
points, bits flipped, header bytes overwritten with edge values, slices duplicated or dropped, the format's own
chunks/markers/boxes duplicated, dropped or swapped, and header fields edited (zero, huge, and just under and over
the format's pixel cap, checksums fixed up so the edit is believed).

Every case must come out as an image DetectLabels accepts (tests/fakes/rekognition_contract) whose fields describe
its bytes, or as a bot.images.ImageError with a short user-facing reason: never another exception; so must the
frames moderation checks of it (bot.images.moderation_frames: an animation's). The corpus
runs in child processes (one per core), each reporting its own peak RSS (the kernel's VmHWM for its address space),
so a case that balloons memory fails the test even if Python never sees an error; one that kills its child fails on
the exit status.

The corpus is deterministic (seeded per source and case). Run it by hand, e.g. to find a case:
    .venv/bin/python -m tests.test_fuzz_images --shard 0 --shards 1 --only png --verbose
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import random
import resource
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent

SHARDS = 2  # one child per core of a small CI runner
MIN_CASES = 3000
# Measured (Pillow 13, pillow-heif 1.8, Linux): ~60 MB after imports; each child peaks at 480-530 MB, on headers
# edited to claim just under a pixel cap (a progressive 4:4:4 JPEG at 50 MP: its DCT coefficients alone take 300 MB;
# an AVIF at 50 MP, a WebP at 25 MP). Before bot.images had per-format caps a 20 KB WebP took 2 GB.
PEAK_RSS_CEILING_MB = 650
CHILD_TIMEOUT_S = 240


# ------------------------------------------------------------------------------------------------ sources


def _photo(name: str):
    from PIL import Image

    with Image.open(FIXTURES / name) as image:
        image.load()
        return image.copy()


def _encode(image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    payload = exif.tobytes()
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _two_frames(fmt: str, **params) -> bytes:
    from PIL import Image

    first = _photo("cat.jpg").resize((240, 160))
    second = Image.new("RGB", first.size, (20, 20, 230))
    return _encode(first, fmt, save_all=True, append_images=[second], duration=100, loop=0, **params)


def sources() -> dict[str, tuple[str, bytes]]:
    """name -> (container kind, bytes): every format a Slack user can post, in its common variants."""
    import bot.images  # noqa: F401  (registers the HEIF/AVIF plugin, for saving as well as opening)

    cat, coffee, rocket, logo = (_photo(n) for n in ("cat.jpg", "coffee.jpg", "rocket.jpg", "logo_alpha.png"))
    small = rocket.resize((320, 214))
    paletted = small.quantize(colors=64)
    paletted.info["transparency"] = 0
    return {
        "jpeg": ("jpeg", (FIXTURES / "cat.jpg").read_bytes()),
        "jpeg-progressive": ("jpeg", _encode(coffee.resize((300, 200)), "JPEG", progressive=True, quality=80)),
        "jpeg-exif-rotated": ("jpeg", _with_exif_orientation(_encode(small, "JPEG", quality=80), 6)),
        "jpeg-cmyk": ("jpeg", _encode(small.convert("CMYK"), "JPEG", quality=80)),
        "jpeg-progressive-444": ("jpeg", _encode(small, "JPEG", progressive=True, subsampling=0)),
        "jpeg-progressive-cmyk": ("jpeg", _encode(small.convert("CMYK"), "JPEG", progressive=True, quality=80)),
        "jpeg-grey-444": ("jpeg", _encode(cat.convert("L").resize((200, 133)), "JPEG", subsampling=0)),
        "mpo": ("jpeg", _encode(small, "MPO", save_all=True, append_images=[coffee.resize((96, 64))])),
        "png": ("png", _encode(cat.resize((300, 200)), "PNG")),
        "png-rgba": ("png", (FIXTURES / "logo_alpha.png").read_bytes()),
        "png-palette-trns": ("png", _encode(paletted, "PNG")),
        "png-interlaced": ("png", _encode(small.convert("L"), "PNG", interlace=True)),
        "png-16bit-grey": ("png", _encode(small.convert("I;16"), "PNG")),
        "apng": ("png", _two_frames("PNG")),
        "gif": ("gif", _encode(cat.resize((300, 200)), "GIF")),
        "gif-animated": ("gif", _two_frames("GIF")),
        "webp": ("riff", _encode(cat, "WEBP", quality=80)),
        "webp-lossless-alpha": ("riff", _encode(logo.resize((120, 120)), "WEBP", lossless=True)),
        "webp-animated": ("riff", _two_frames("WEBP", quality=70)),
        "heic": ("isobmff", _encode(cat, "HEIF", quality=60)),
        "heic-alpha": ("isobmff", _encode(logo.resize((120, 120)), "HEIF", quality=60)),
        "avif": ("isobmff", _encode(cat, "AVIF", quality=60)),
        "avif-alpha": ("isobmff", _encode(logo.resize((120, 120)), "AVIF", quality=60)),
        "bmp": ("bmp", _encode(cat.resize((200, 133)), "BMP")),
        "bmp-palette": ("bmp", _encode(small.quantize(colors=16), "BMP")),
        "tiff": ("tiff", _encode(cat.resize((200, 133)), "TIFF")),
        "tiff-deflate": ("tiff", _encode(small, "TIFF", compression="tiff_deflate")),
        "tiff-lzw-rgba": ("tiff", _encode(logo.resize((120, 120)), "TIFF", compression="tiff_lzw")),
        "tiff-jpeg": ("tiff", _encode(small, "TIFF", compression="jpeg")),
        "ico": ("ico", _encode(logo, "ICO", sizes=[(32, 32), (64, 64)])),
        "ico-bmp": ("ico", _encode(logo, "ICO", sizes=[(48, 48)], bitmap_format="bmp")),
    }


# ----------------------------------------------------------------------------- structure of each container


Segment = tuple[int, int, str]  # start, end, name


def png_chunks(data: bytes) -> list[Segment]:
    chunks, at = [], 8
    while at + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, at)
        end = at + 12 + length
        if end > len(data):
            break
        chunks.append((at, end, data[at + 4 : at + 8].decode("latin-1")))
        at = end
    return chunks


def jpeg_segments(data: bytes) -> list[Segment]:
    """The marker segments of the first picture up to and including SOS's header (not its entropy-coded data)."""
    segments, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        (length,) = struct.unpack_from(">H", data, at + 2)
        segments.append((at, at + 2 + length, f"FF{marker:02X}"))
        at += 2 + length
        if marker == 0xDA:
            break
    return segments


def gif_blocks(data: bytes) -> list[Segment]:
    blocks = []
    flags = data[10]
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    blocks.append((0, at, "header"))
    while at < len(data):
        start, kind = at, data[at]
        if kind == 0x3B:
            blocks.append((at, at + 1, "trailer"))
            break
        if kind == 0x21:
            at += 2
            name = f"ext{data[start + 1]:02X}"
        elif kind == 0x2C:
            local = data[at + 9]
            at += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0) + 1
            name = "image"
        else:
            break
        while at < len(data) and data[at]:
            at += 1 + data[at]
        at += 1
        blocks.append((start, min(at, len(data)), name))
    return blocks


def riff_chunks(data: bytes) -> list[Segment]:
    chunks, at = [], 12
    while at + 8 <= len(data):
        (length,) = struct.unpack_from("<I", data, at + 4)
        end = at + 8 + length + (length & 1)
        chunks.append((at, min(end, len(data)), data[at : at + 4].decode("latin-1")))
        at = end
    return chunks


ISOBMFF_CONTAINERS = {"meta": 4, "iprp": 0, "ipco": 0, "dinf": 0, "iinf": None, "moov": 0, "trak": 0}


def isobmff_boxes(data: bytes, start: int = 0, end: int | None = None, parents: tuple[int, ...] = ()):
    """(start, end, type, parent box starts) of every box, depth first, into the containers HEIF images use."""
    end = len(data) if end is None else end
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        name = kind.decode("latin-1")
        header = 8
        if size == 1 and at + 16 <= end:
            (size,) = struct.unpack_from(">Q", data, at + 8)
            header = 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            return
        yield at, at + size, name, parents
        if name in ISOBMFF_CONTAINERS:
            skip = ISOBMFF_CONTAINERS[name]
            if skip is None:  # iinf: full box header, then an entry count (16 bits in version 0)
                skip = 4 + (2 if data[at + header] == 0 else 4)
            yield from isobmff_boxes(data, at + header + skip, at + size, (*parents, at))
        at += size


def tiff_entries(data: bytes) -> tuple[str, list[tuple[int, int, int, int]]]:
    """Byte order and IFD0's entries as (offset of entry, tag, type, count)."""
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack_from(order + "I", data, 4)
    (count,) = struct.unpack_from(order + "H", data, ifd)
    entries = []
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        tag, kind, number = struct.unpack_from(order + "HHI", data, entry)
        entries.append((entry, tag, kind, number))
    return order, entries


# ------------------------------------------------------------------------------------------------ mutations

INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
# Empty, 1 px, one side huge, both huge; to these header_edits adds a square just under the format's cap and one over.
DIMENSIONS_16 = ((0, 0), (1, 1), (0, 300), (300, 0), (65535, 65535), (65535, 1), (1, 65535))
DIMENSIONS_32 = (*DIMENSIONS_16, (0x7FFFFFFF, 0x7FFFFFFF), (0xFFFFFFFF, 1), (1_000_000, 120), (120, 1_000_000))


def at_the_cap(data: bytes) -> tuple[tuple[int, int], tuple[int, int]]:
    """The largest square bot.images would decode of a file like this one, and the smallest it refuses."""
    from PIL import Image

    from bot.images import DECODERS, pixel_limit

    with Image.open(io.BytesIO(data), formats=DECODERS) as image:
        side = math.isqrt(pixel_limit(image))
    return (side, side), (side + 1, side + 1)


def put(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    packed = struct.pack(fmt, *values)
    if offset < 0 or offset + len(packed) > len(data):
        return data
    return data[:offset] + packed + data[offset + len(packed) :]


def _u24(value: int) -> tuple[int, int]:
    """A 24-bit little-endian field as struct's "<HB"."""
    return value & 0xFFFF, value >> 16


def fix_png_crc(data: bytes, chunk_start: int) -> bytes:
    (length,) = struct.unpack_from(">I", data, chunk_start)
    body = data[chunk_start + 4 : chunk_start + 8 + length]
    return put(data, chunk_start + 8 + length, ">I", zlib.crc32(body))


def truncations(data: bytes) -> Iterator[tuple[str, bytes]]:
    cuts = {c for c in (0, 1, 2, 3, 4, 6, 8, 11, 12, 16, 20, 24, 32, 48, 64, 100, 200, 400) if c < len(data)}
    cuts |= {len(data) * k // 28 for k in range(1, 28)}
    cuts |= {len(data) - back for back in (1, 2, 3, 4, 8, 12, 16) if back < len(data)}
    for cut in sorted(cuts):
        yield f"cut at {cut}", data[:cut]


def bit_flips(data: bytes, rng: random.Random, count: int) -> Iterator[tuple[str, bytes]]:
    for case in range(count):
        damaged = bytearray(data)
        flips = rng.choice((1, 2, 4, 8, 32))
        span = min(len(data), 512) if case % 2 else len(data)  # half of them in the header region
        for _ in range(flips):
            damaged[rng.randrange(span)] ^= 1 << rng.randrange(8)
        yield f"{flips} bit flips in the first {span} bytes #{case}", bytes(damaged)


def edge_values(data: bytes, rng: random.Random, count: int) -> Iterator[tuple[str, bytes]]:
    for _ in range(count):
        value = rng.choice(INTERESTING)
        fmt = rng.choice(("B", "<H", ">H", "<I", ">I"))
        value &= (1 << (8 * struct.calcsize(fmt))) - 1
        offset = rng.randrange(min(len(data), 1024))
        yield f"{fmt} {value:#x} at {offset}", put(data, offset, fmt, value)


def splices(data: bytes, rng: random.Random, count: int) -> Iterator[tuple[str, bytes]]:
    for case in range(count):
        start = rng.randrange(len(data))
        length = min(rng.choice((1, 4, 16, 100, 1000, 5000)), len(data) - start)
        piece = data[start : start + length]
        kind = case % 4
        if kind == 0:
            at = rng.randrange(len(data))
            yield f"{length} bytes from {start} copied to {at}", data[:at] + piece + data[at:]
        elif kind == 1:
            yield f"{length} bytes at {start} dropped", data[:start] + data[start + length :]
        elif kind == 2:
            yield f"{length} bytes at {start} zeroed", data[:start] + bytes(length) + data[start + length :]
        else:
            yield f"{length} bytes at {start} repeated 8 times", data[:start] + piece * 8 + data[start:]


def segment_edits(data: bytes, segments: list[Segment], rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Each segment (chunk, marker, block) duplicated in place, dropped, or copied to the end or the start."""
    for start, end, name in segments[:14]:
        piece = data[start:end]
        yield f"{name} at {start} duplicated", data[:end] + piece + data[end:]
        yield f"{name} at {start} dropped", data[:start] + data[end:]
    if len(segments) >= 2:
        for _ in range(4):
            a, b = sorted(rng.sample(range(len(segments)), 2))
            (s1, e1, n1), (s2, e2, n2) = segments[a], segments[b]
            yield f"{n1} and {n2} swapped", data[:s1] + data[s2:e2] + data[e1:s2] + data[s1:e1] + data[e2:]
        start, end, name = rng.choice(segments)
        yield f"{name} appended 50 times", data + data[start:end] * 50


def header_edits(kind: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """Format-aware edits of the fields a decoder sizes its buffers from, checksums fixed so they are believed."""
    (under, under_h), (over, over_h) = at_the_cap(data)
    dims16, dims32 = (
        (*DIMENSIONS_16, (under, under_h), (over, over_h)),
        (*DIMENSIONS_32, (under, under_h), (over, over_h)),
    )
    if kind == "png":
        chunks = png_chunks(data)
        ihdr = chunks[0][0]
        for width, height in dims32:
            yield f"IHDR {width}x{height}", fix_png_crc(put(data, ihdr + 8, ">II", width, height), ihdr)
        for depth, colour in ((16, 3), (3, 2), (8, 5), (1, 6), (0, 0), (16, 0), (8, 3)):
            edited = fix_png_crc(put(data, ihdr + 16, ">BB", depth, colour), ihdr)
            yield f"IHDR bit depth {depth} colour type {colour}", edited
        yield "IHDR interlace 1", fix_png_crc(put(data, ihdr + 20, ">B", 1), ihdr)
        for start, _end, name in chunks:
            if name == "fcTL":  # APNG frame: its size and offset within the canvas
                for w, h in ((0xFFFFFFFF, 1), (65535, 65535), (1, 1)):
                    yield f"fcTL {w}x{h}", fix_png_crc(put(data, start + 12, ">II", w, h), start)
                yield "fcTL offset huge", fix_png_crc(put(data, start + 20, ">II", 0x7FFFFFFF, 5), start)
            if name == "acTL":
                yield "acTL 2**31 frames", fix_png_crc(put(data, start + 8, ">I", 0x80000000), start)
            if name in ("PLTE", "tRNS"):
                yield f"{name} length 0", fix_png_crc(put(data, start, ">I", 0), start)
    elif kind == "jpeg":
        for start, _end, name in jpeg_segments(data):
            if name in ("FFC0", "FFC1", "FFC2"):
                for width, height in dims16:
                    yield f"{name} {width}x{height}", put(data, start + 5, ">HH", height, width)
                for components in (0, 2, 4, 255):
                    yield f"{name} {components} components", put(data, start + 9, ">B", components)
                for sampling in (0x00, 0x44, 0xFF, 0x14):
                    yield f"{name} sampling {sampling:#x}", put(data, start + 11, ">B", sampling)
                yield f"{name} precision 12", put(data, start + 4, ">B", 12)
                for marker in (0xC1, 0xC2, 0xC3, 0xC5, 0xC9, 0xCA, 0xCB):  # another coding process, a huge image
                    other = put(put(data, start + 1, "B", marker), start + 5, ">HH", under_h, under)
                    yield f"{name} as SOF {marker:#x}, {under}x{under_h}", other
            elif name == "FFC4":
                yield "DHT counts all 255", put(data, start + 5, ">16B", *[255] * 16)
            elif name == "FFDB":
                yield "DQT precision 16-bit", put(data, start + 4, ">B", 0x10)
            elif name == "FFDA":
                yield "SOS 4 components", put(data, start + 4, ">B", 4)
                yield "SOS table 7", put(data, start + 6, ">B", 0x77)
            elif name == "FFE1" and data[start + 4 : start + 10] == b"Exif\x00\x00":
                yield "EXIF IFD offset huge", put(data, start + 14, ">I", 0x7FFFFFF0)
                yield "EXIF entry count 65535", put(data, start + 18, ">H", 0xFFFF)
                yield "EXIF orientation 9", put(data, start + 28, ">H", 9)
    elif kind == "gif":
        for width, height in dims16:
            yield f"screen {width}x{height}", put(data, 6, "<HH", width, height)
        for start, _end, name in gif_blocks(data):
            if name == "image":
                for width, height in DIMENSIONS_16:
                    yield f"frame at {start} {width}x{height}", put(data, start + 5, "<HH", width, height)
                yield f"frame at {start} offset 65535", put(data, start + 1, "<HH", 65535, 65535)
                yield f"frame at {start} interlaced", put(data, start + 9, "B", data[start + 9] | 0x40)
                local = data[start + 9]
                code_size_at = start + 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
                for size in (0, 12, 255):
                    yield f"frame at {start} LZW code size {size}", put(data, code_size_at, "B", size)
    elif kind == "riff":
        yield "RIFF size 0", put(data, 4, "<I", 0)
        yield "RIFF size huge", put(data, 4, "<I", 0xFFFFFFF0)
        for start, _end, name in riff_chunks(data):
            yield f"{name} size huge", put(data, start + 4, "<I", 0x7FFFFFF0)
            if name == "VP8X":
                for w, h in (
                    (0xFFFFFF, 0xFFFFFF),
                    (16383, 16383),
                    (0, 0),
                    (under - 1, under - 1),
                    (over - 1, over - 1),
                ):
                    yield f"VP8X canvas {w + 1}x{h + 1}", put(data, start + 12, "<HBHB", *_u24(w), *_u24(h))
            elif name == "VP8 ":
                for w, h in ((16383, 16383), (0, 0), (1, 16383)):
                    yield f"VP8 {w}x{h}", put(data, start + 14, "<HH", w, h)
            elif name == "VP8L":
                for bits in (0xFFFFFFFF, 0, 0x0FFFC000):
                    yield f"VP8L header {bits:#x}", put(data, start + 9, "<I", bits)
            elif name == "ANMF":
                yield "ANMF frame 16M px wide", put(data, start + 14, "<HB", *_u24(0xFFFFFF))
    elif kind == "isobmff":
        boxes = list(isobmff_boxes(data))
        for start, _end, name, _parents in boxes:
            if name == "ispe":
                for width, height in dims32:
                    yield f"ispe at {start} {width}x{height}", put(data, start + 12, ">II", width, height)
            if name in ("iloc", "ipma", "iinf", "pitm", "hvcC", "av1C", "pixi", "iref"):
                yield f"{name} version 7", put(data, start + 8, ">B", 7)
                yield f"{name} body 0xFF", put(data, start + 12, ">I", 0xFFFFFFFF)
            yield f"{name} at {start} size 0", put(data, start, ">I", 0)
            yield f"{name} at {start} size 1 (64-bit follows)", put(data, start, ">I", 1)
        for start, end, name, parents in boxes:  # a box duplicated inside its parents, their sizes fixed up
            if name in ("ispe", "ipma", "iloc", "hvcC", "av1C", "pixi", "colr", "infe", "mdat"):
                piece = data[start:end]
                edited = data[:end] + piece + data[end:]
                for parent in parents:
                    (size,) = struct.unpack_from(">I", edited, parent)
                    edited = put(edited, parent, ">I", size + len(piece))
                yield f"{name} at {start} duplicated in its box", edited
    elif kind == "bmp":
        for width, height in (*dims16, (0x7FFFFFFF, 1), (1, -0x7FFFFFFF), (200, -133), (-200, 133)):
            yield f"BMP {width}x{height}", put(data, 18, "<ii", width, height)
        for bits in (0, 1, 3, 7, 64, 0xFFFF):
            yield f"BMP {bits} bits per pixel", put(data, 28, "<H", bits)
        for compression in (1, 2, 3, 4, 99):
            yield f"BMP compression {compression}", put(data, 30, "<I", compression)
        yield "BMP pixel offset huge", put(data, 10, "<I", 0x7FFFFFF0)
        yield "BMP pixel offset 0", put(data, 10, "<I", 0)
        yield "BMP header size 0xFFFF", put(data, 14, "<I", 0xFFFF)
        yield "BMP colours used 2**31", put(data, 46, "<I", 0x80000000)
    elif kind == "tiff":
        order, entries = tiff_entries(data)
        for entry, tag, kind_, _count in entries:
            if tag in (256, 257):
                value_fmt = order + ("H" if kind_ == 3 else "I")
                for value in (0, 1, 0xFFFF, *((0x7FFFFFFF,) if kind_ == 4 else ())):
                    yield f"tag {tag} = {value}", put(data, entry + 8, value_fmt, value)
            elif tag in (258, 259, 262, 277, 278, 284, 317, 338):
                for value in (0, 3, 0xFFFF):
                    yield f"tag {tag} = {value}", put(data, entry + 8, order + "H", value)
            elif tag in (273, 279):
                yield f"tag {tag} count huge", put(data, entry + 4, order + "I", 0x0FFFFFFF)
                yield f"tag {tag} value huge", put(data, entry + 8, order + "I", 0x7FFFFFF0)
        sides = {tag: (entry, kind_) for entry, tag, kind_, _count in entries if tag in (256, 257)}
        for side in (under, over):
            edited = data
            for entry, kind_ in sides.values():
                edited = put(edited, entry + 8, order + ("H" if kind_ == 3 else "I"), side)
            yield f"TIFF {side}x{side}", edited
        if len(entries) >= 2:
            first, second = entries[0][0], entries[1][0]
            yield "two entries with one tag", data[:second] + data[first : first + 2] + data[second + 2 :]
        yield "IFD offset huge", put(data, 4, order + "I", 0x7FFFFFF0)
        yield "IFD offset 8 (a loop)", put(data, 4, order + "I", 0)
    elif kind == "ico":
        (count,) = struct.unpack_from("<H", data, 4)
        yield "ICO 65535 images", put(data, 4, "<H", 0xFFFF)
        yield "ICO 0 images", put(data, 4, "<H", 0)
        for index in range(count):
            entry = 6 + 16 * index
            yield f"ICO entry {index} 0x0 (256x256)", put(data, entry, "BB", 0, 0)
            yield f"ICO entry {index} 255 colours", put(data, entry + 2, "B", 255)
            yield f"ICO entry {index} 0xFFFF bpp", put(data, entry + 6, "<H", 0xFFFF)
            yield f"ICO entry {index} size huge", put(data, entry + 8, "<I", 0x7FFFFFF0)
            yield f"ICO entry {index} offset huge", put(data, entry + 12, "<I", 0x7FFFFFF0)
            yield f"ICO entry {index} offset 0", put(data, entry + 12, "<I", 0)
        if count >= 2:
            yield "ICO entries the same", data[:22] + data[6:22] + data[38:]


def structure(kind: str, data: bytes) -> list[Segment]:
    if kind == "png":
        return png_chunks(data)
    if kind == "jpeg":
        return jpeg_segments(data)
    if kind == "gif":
        return gif_blocks(data)
    if kind == "riff":
        return riff_chunks(data)
    if kind == "isobmff":
        return [(s, e, n) for s, e, n, parents in isobmff_boxes(data) if not parents]
    if kind == "tiff":
        return [(e, e + 12, f"tag {tag}") for e, tag, _k, _c in tiff_entries(data)[1]]
    return []


def cases_for(name: str, kind: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(f"fuzz-images:{name}")  # deterministic: same corpus on every run and machine
    yield "as built", data
    yield from truncations(data)
    yield from bit_flips(data, rng, 30)
    yield from edge_values(data, rng, 20)
    yield from splices(data, rng, 12)
    edited = list(segment_edits(data, structure(kind, data), rng)) + list(header_edits(kind, data))
    yield from edited
    for label, damaged in rng.sample(edited, min(10, len(edited))):  # an edit, then a cut
        cut = rng.randrange(1, max(2, len(damaged)))
        yield f"{label}, then cut at {cut}", damaged[:cut]


def corpus() -> Iterator[tuple[str, bytes]]:
    """Every distinct case, in order: a mutation that gives bytes an earlier case already had (a cut past the end of a
    shorter file, an edit that writes the value already there: 241 of 5,284) is not run again."""
    seen: set[bytes] = set()
    for name, (kind, data) in sources().items():
        for label, damaged in cases_for(name, kind, data):
            digest = hashlib.blake2b(damaged, digest_size=16).digest()
            if digest not in seen:
                seen.add(digest)
                yield f"{name}: {label}", damaged


# ---------------------------------------------------------------------------------------- the child process


def check_case(data: bytes) -> str:
    """The outcome of one case: 'valid', an ImageError's class name, or 'FAIL ...' saying what went wrong. The frames
    moderation would check of it (an animation's) must come out alike: images DetectModerationLabels accepts, or an
    ImageError with a short reason."""
    from bot.images import ImageError, PreparedImage, prepare_for_rekognition
    from tests.fakes.rekognition_contract import ContractViolation, check_rekognition_image

    frames = check_frames(data)
    if frames is not None:
        return frames
    try:
        result = prepare_for_rekognition(data)
    except ImageError as error:
        message = str(error)
        if not (message.endswith(".") and "\n" not in message and 20 <= len(message) <= 160):
            return f"FAIL not a short user-facing reason: {message!r}"
        return type(error).__name__
    except BaseException as exc:  # the point of the test: nothing but ImageError may come out
        return f"FAIL raised {type(exc).__name__}: {exc!r}"[:300]
    if not isinstance(result, PreparedImage):
        return f"FAIL returned {type(result).__name__}"
    try:
        fmt, width, height = check_rekognition_image(result.data)
    except ContractViolation as violation:
        return f"FAIL output breaks the DetectLabels contract: {violation.code}: {violation}"[:300]
    if (result.format, result.width, result.height) != (fmt, width, height):
        return f"FAIL fields {result.format} {result.width}x{result.height} but bytes are {fmt} {width}x{height}"
    return "valid"


def check_frames(data: bytes) -> str | None:
    """None if bot.images.moderation_frames gave valid frames or a short ImageError, else 'FAIL ...'."""
    from bot.images import ImageError, moderation_frames
    from tests.fakes.rekognition_contract import ContractViolation, check_rekognition_image

    try:
        frames = moderation_frames(data, 10)
    except ImageError as error:
        message = str(error)
        if not (message.endswith(".") and "\n" not in message and 20 <= len(message) <= 160):
            return f"FAIL moderation_frames: not a short user-facing reason: {message!r}"
        return None
    except BaseException as exc:
        return f"FAIL moderation_frames raised {type(exc).__name__}: {exc!r}"[:300]
    for frame in frames:
        try:
            check_rekognition_image(frame)
        except ContractViolation as violation:
            return f"FAIL a frame breaks the DetectModerationLabels contract: {violation.code}: {violation}"[:300]
    return None


def run_shard(shard: int, shards: int, only: str | None, verbose: bool) -> dict:
    warnings.simplefilter("ignore")  # Pillow warns about damaged EXIF and big images; outcomes are what count
    started = time.perf_counter()
    outcomes: Counter[str] = Counter()
    per_source: Counter[str] = Counter()
    failures: list[str] = []
    slowest: list[tuple[float, str]] = []
    rss_steps: list[tuple[float, str]] = []  # cases that raised the peak RSS, by how much (MB)
    peak = _max_rss_mb()
    built_at = None
    for index, (label, data) in enumerate(corpus()):
        if built_at is None:
            built_at = peak = _max_rss_mb()
        if index % shards != shard or (only and not label.startswith(only)):
            continue
        if verbose:
            print(label, file=sys.stderr, flush=True)
        case_started = time.perf_counter()
        outcome = check_case(data)
        elapsed = time.perf_counter() - case_started
        outcomes[outcome.split(":")[0] if outcome.startswith("FAIL") else outcome] += 1
        per_source[label.split(":")[0]] += 1
        if outcome.startswith("FAIL"):
            failures.append(f"{label}: {outcome}")
        elif label.endswith(": as built") and outcome != "valid":  # the undamaged source must be a good image
            failures.append(f"{label}: {outcome}, not valid")
        slowest = sorted([*slowest, (elapsed, label)], reverse=True)[:5]
        now = _max_rss_mb()
        if now > peak:
            rss_steps = sorted([*rss_steps, (now - peak, label)], reverse=True)[:5]
            peak = now
    return {
        "cases": sum(outcomes.values()),
        "outcomes": dict(outcomes),
        "cases_per_source": dict(per_source),
        "failures": failures[:30],
        "seconds": round(time.perf_counter() - started, 1),
        "rss_after_imports_mb": round(built_at or peak, 1),
        "peak_rss_mb": round(_max_rss_mb(), 1),
        "biggest_rss_steps": [(round(mb, 1), label) for mb, label in rss_steps],
        "slowest": [(round(s, 2), label) for s, label in slowest],
    }


def _max_rss_mb() -> float:
    """This process's peak RSS since it was started: Linux's VmHWM, its own address space's high-water mark. (Its
    ru_maxrss, and the figure os.wait4 gives the parent, start from the spawning process's high-water mark: a busy
    test worker's, hundreds of MB before the first case.) Elsewhere ru_maxrss."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--only", help="only the cases whose label starts with this (a source name)")
    parser.add_argument("--verbose", action="store_true", help="print each case's label to stderr before it runs")
    args = parser.parse_args(argv)
    print(json.dumps(run_shard(args.shard, args.shards, args.only, args.verbose)))
    return 0


# ----------------------------------------------------------------------------------------------- the test


def run_children(shards: int) -> list[dict]:
    """Run every shard at once; each one's report (its peak RSS among it), plus its exit code and the tail of its
    stderr (libtiff and libjpeg print their warnings there)."""
    with contextlib.ExitStack() as files:
        children = []
        for shard in range(shards):
            out, err = (files.enter_context(tempfile.TemporaryFile()) for _ in range(2))
            command = ["-m", "tests.test_fuzz_images", "--shard", str(shard), "--shards", str(shards)]
            process = subprocess.Popen([sys.executable, *command], cwd=ROOT, stdout=out, stderr=err)
            children.append((command, process, out, err, threading.Timer(CHILD_TIMEOUT_S, process.kill)))
        for *_, timer in children:
            timer.start()
        results = []
        for command, process, out, err, timer in children:
            _pid, status = os.waitpid(process.pid, 0)  # its exit status, whether it crashed or not
            timer.cancel()
            process.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            try:
                report = json.loads(out.read())
            except ValueError:
                report = {}
            report.update(
                exit_code=process.returncode,
                stderr_tail=err.read().decode(errors="replace")[-2000:],
                rerun=" ".join(["python", *command, "--verbose"]),
            )
            results.append(report)
    return results


def _format_of(data: bytes) -> str | None:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.format


def test_damaged_images_of_every_format_give_a_valid_image_or_an_image_error_within_the_memory_ceiling():
    started = time.perf_counter()
    reports = run_children(SHARDS)

    for report in reports:
        assert report["exit_code"] == 0 and "cases" in report, (
            f"a fuzz child died (exit {report['exit_code']}); find the case with `{report['rerun']}`:\n"
            f"{report['stderr_tail']}"
        )
        assert report["failures"] == [], "\n".join(report["failures"])
        assert report["peak_rss_mb"] < PEAK_RSS_CEILING_MB, (
            f"peak RSS {report['peak_rss_mb']:.0f} MB over the {PEAK_RSS_CEILING_MB} MB ceiling; "
            f"the cases that raised it most: {report['biggest_rss_steps']}"
        )
    outcomes: Counter[str] = Counter()
    per_source: Counter[str] = Counter()
    for report in reports:
        outcomes.update(report["outcomes"])
        per_source.update(report["cases_per_source"])
    print(
        f"fuzz: {sum(outcomes.values())} cases in {time.perf_counter() - started:.1f} s, {dict(outcomes)}, "
        f"peak RSS {max(r['peak_rss_mb'] for r in reports):.0f} MB (ceiling {PEAK_RSS_CEILING_MB} MB)"
    )
    assert sum(outcomes.values()) >= MIN_CASES
    from bot.images import DECODERS

    built = sources()
    assert set(per_source) == set(built)
    assert {_format_of(data) for _kind, data in built.values()} >= set(DECODERS)  # every format bot.images opens
    assert min(per_source.values()) >= 100, per_source  # every format and variant damaged in many ways
    # The corpus reaches every outcome, and plenty of each: damaged files that still decode, and every refusal.
    assert outcomes["valid"] > 500, outcomes
    assert min(outcomes["CorruptImage"], outcomes["UnsupportedImage"]) > 500, outcomes
    assert outcomes["ImageTooLarge"] > 50, outcomes


if __name__ == "__main__":
    sys.exit(main())
