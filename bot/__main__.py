"""python -m bot [http|socket] runs the bot; python -m bot label FILE tries the pipeline on a local file."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from dotenv import load_dotenv

from bot.config import ConfigError, load_config
from bot.logs import configure_logging, environment_secrets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="labelbot: labels images posted in Slack")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP (default)")
    sub.add_parser("http", help="serve Slack's HTTP requests on $PORT (the Procfile's web process)")
    sub.add_parser("socket", help="connect to Slack in Socket Mode (the Procfile's worker process)")
    label = sub.add_parser("label", help="label a local image file and print the reply, without Slack")
    label.add_argument("path", type=Path)
    label.add_argument("--threshold", type=_percent, help="minimum confidence, 0-100 (default LABELBOT_MIN_CONFIDENCE)")
    label.add_argument("--max", type=_label_count, dest="max_labels", help="labels at most, 1-20 (default 5)")
    label.add_argument(
        "--moderation", action="store_true", help="check it with DetectModerationLabels first, as a channel with it on"
    )
    label.add_argument(
        "--moderation-threshold",
        type=_percent,
        help="with --moderation: hold at this confidence, 0-100 (default LABELBOT_MODERATION_MIN_CONFIDENCE, 60)",
    )
    label.add_argument(
        "--text",
        action="store_true",
        help="read its text too, as a channel with text on (with DetectText, or the local reader as "
        "LABELBOT_TEXT_ENGINE and the language say), and print the text line the bot posts",
    )
    label.add_argument(
        "--language",
        type=_language,
        help="reply in this language, as a channel set to it: en or ja (default LABELBOT_LANGUAGE, en)",
    )
    label.add_argument(
        "--boxes",
        type=Path,
        metavar="OUT.jpg",
        help="write the Show where picture: the boxes of the labels shown (and, with --text, of the text) on the image",
    )
    args = parser.parse_args(argv)

    load_dotenv(Path.cwd() / ".env", override=False)
    try:
        if args.command == "label":
            moderation = args.moderation or args.moderation_threshold is not None
            return label_local_file(
                args.path,
                args.threshold,
                args.max_labels,
                moderation,
                args.moderation_threshold,
                text=args.text,
                boxes=args.boxes,
                language=args.language,
            )
        return run_bot(args.command or "run")
    except ConfigError as exc:
        print(f"labelbot: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _percent(text: str) -> float:
    value = float(text.rstrip("%"))
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError("must be from 0 to 100")
    return value


def _language(text: str) -> str:
    from bot.i18n import LANGUAGES, choose_language

    language = choose_language(text)
    if language is None:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(LANGUAGES)}")
    return language


def _label_count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 20:
        raise argparse.ArgumentTypeError("must be from 1 to 20")
    return value


def run_bot(command: str) -> int:
    # The environment first: a misconfiguration stops start-up before the bot's modules are imported (0.3 s).
    config = load_config(mode={"run": "auto", "http": "http", "socket": "socket"}[command])
    use_multiprocess_metrics()  # before anything imports prometheus_client
    from bot.rekognition import check_aws_region
    from bot.serve import serve_http, serve_socket_mode
    from bot.services import verify_slack_token, verify_store

    # Problems that would otherwise surface inside a gunicorn worker or a thread stop start-up here instead.
    check_aws_region()
    verify_store(config)
    verify_slack_token(config)
    configure_logging(config.log_level, (*config.secrets, *environment_secrets()), config.log_format)
    if config.socket_mode:
        serve_socket_mode(config)
    else:
        serve_http(config)
    return 0


def use_multiprocess_metrics() -> None:
    """The bot is two processes (the one Slack talks to, and its labelling process), whose metrics one scrape adds
    up: prometheus_client's multiprocess mode, in PROMETHEUS_MULTIPROC_DIR (the operator's, emptied of an earlier
    run's files; else a new temporary directory, removed when this process exits), inherited by the labelling
    process."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.remove(os.path.join(path, name))
    else:
        path = tempfile.mkdtemp(prefix="labelbot-metrics-")
        owner = os.getpid()  # not gunicorn's forked worker, which runs the atexit handlers it inherited
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(path, ignore_errors=True))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


def label_local_file(
    path: Path,
    threshold: float | None,
    max_labels: int | None,
    moderation: bool = False,
    moderation_threshold: float | None = None,
    *,
    text: bool = False,
    boxes: Path | None = None,
    language: str | None = None,
) -> int:
    """Print the reply the bot would post for this file; with moderation, first what DetectModerationLabels found
    and whether the bot would hold the image (then, as the bot, it asks for no labels); with text, after the labels
    the text line (as its mrkdwn: what Slack shows literally), and the poster's warning if a secret was hidden."""
    from bot.analysis import ImageAnalysis, LabelsStep, ModerationStep, NoLabelCache, content_hash
    from bot.config import (
        load_label_defaults,
        load_language,
        load_moderation_frames,
        load_moderation_threshold,
        load_text_min_confidence,
        load_translate,
    )
    from bot.images import FramedImage, ImageError, moderation_frames, prepare_for_rekognition, reading_copy
    from bot.label_translation import InMemoryLabelTranslations, LabelTranslator
    from bot.local_text import LocalTextReader
    from bot.moderation import describe_moderation, held_categories
    from bot.rekognition import (
        RekognitionError,
        RekognitionLabeler,
        RekognitionModerator,
        build_rekognition_client,
    )
    from bot.render import ImageResult, render_reply
    from bot.settings import ChannelSettings

    configure_logging("WARNING")
    default_threshold, default_max = load_label_defaults()
    settings = ChannelSettings(
        threshold=default_threshold if threshold is None else threshold,
        max_labels=default_max if max_labels is None else max_labels,
        moderation=moderation,
        moderation_threshold=load_moderation_threshold() if moderation_threshold is None else moderation_threshold,
        language=language or load_language(),
    )
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"labelbot: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    client = build_rekognition_client(max_pool_connections=1)
    analysis = ImageAnalysis([LabelsStep(RekognitionLabeler(client), NoLabelCache())])
    try:
        prepared = prepare_for_rekognition(data).data
        if settings.moderation:  # every frame of an animation, as the bot checks it (LABELBOT_MODERATION_FRAMES)
            frames = load_moderation_frames()
            step = ModerationStep(RekognitionModerator(client), NoLabelCache(), frames=frames)
            found = step.call(FramedImage(prepared, moderation_frames(data, frames)), settings)
            print("\n".join(describe_moderation(found, settings.moderation_threshold)))
            held = held_categories(found, settings.moderation_threshold)
            if held:
                result = ImageResult(path.name, path.name, held=held)
                print(render_reply([result], settings).text)
                return 0
        labels = analysis.analyse(content_hash(data), lambda: prepared, settings).labels
        result = ImageResult(path.name, path.name, labels=labels)
    except (ImageError, RekognitionError) as exc:
        result = ImageResult(path.name, path.name, error=str(exc))
    # A label name the language's table lacks: Amazon Translate where the credentials allow (else one WARNING and the
    # English name), kept for this run only.
    translator = LabelTranslator(InMemoryLabelTranslations(), enabled=load_translate())
    reply = render_reply([result], settings, tr=translator.reply_words([result], settings))
    assert reply is not None
    print(reply.text)
    code, found = 1 if result.error else 0, None
    if text and result.error is None:
        reader = _text_reader(client, settings.language)
        if isinstance(reader, LocalTextReader):  # a tall capture is read from its own copy, as the bot does
            prepared = FramedImage(prepared, (), reading_copy(data))
        code, found = _print_text(reader, prepared, load_text_min_confidence(), settings.language)
    if boxes is not None and result.error is None:
        code = max(code, _write_boxes(boxes, prepared, result, settings, found))
    return code


def _write_boxes(out: Path, prepared: bytes, result, settings, text) -> int:
    """`label --boxes OUT`: the picture the Show where button posts, written locally (text: what --text read, its
    lines with a secret covered)."""
    from bot.render import shown_labels
    from bot.where_picture import draw_where

    labels = [label for label in shown_labels(result, settings) if label.instances]
    text_boxes, secret_boxes = (text.boxes, text.secret_boxes) if text is not None else ((), ())
    if not labels and not text_boxes:
        print("No label here has a box; nothing written.")
        return 0
    try:
        out.write_bytes(draw_where(prepared, labels, text_boxes, secret_boxes))
    except OSError as exc:
        print(f"labelbot: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 1
    count = sum(len(label.instances) for label in labels)
    named = ", ".join(dict.fromkeys(label.name for label in labels))
    print(f"Wrote {out}: {count} box{'es' if count != 1 else ''}" + (f" ({named})" if named else ""))
    return 0


def _text_reader(client, language: str):
    """Who reads `label --text`'s text: as in a channel of this language under LABELBOT_TEXT_ENGINE (the local
    reader, bot.local_text, or DetectText)."""
    from bot.config import load_text_engine
    from bot.local_text import LocalTextReader, engine_in_use
    from bot.rekognition import RekognitionTextReader
    from bot.screen_text import text_engine_for

    if text_engine_for(engine_in_use(load_text_engine()), language) == "local":
        return LocalTextReader(deadline_seconds=120.0)
    return RekognitionTextReader(client)


def _print_text(reader, prepared: bytes, min_confidence: float, language: str):
    """`label --text`: the text line the bot would post under the labels in a channel of this language (a failed
    read: why, exit 1); and what was read (bot.screen_text.ScreenText, or None), for --boxes."""
    from bot.i18n import words_for
    from bot.local_text import LocalReadFailed
    from bot.rekognition import RekognitionError
    from bot.screen_text import read_text, secret_warning, text_block

    try:
        found = read_text(reader.detect_text(prepared, min_confidence), min_confidence)
    except (RekognitionError, LocalReadFailed) as exc:
        print(f"No text line: {exc}")
        return 1, None
    if not found.lines:
        print(f"No text line: no text read at or above {min_confidence:g}% confidence.")
        return 0, None
    tr = words_for(language)
    print(text_block(found.text, tr=tr)["elements"][0]["text"])
    if found.secrets:
        print(f"The poster is told (ephemerally): {secret_warning(found.secrets, tr)}")
    return 0, found


if __name__ == "__main__":
    sys.exit(main())
