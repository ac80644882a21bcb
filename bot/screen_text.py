"""Pure: the text DetectText read in an image, as the bot repeats it: the confident lines in reading order, every
credential-shaped run replaced by [hidden] (with the kinds found named for the poster), clipped, and literal in
Slack (nothing in a screenshot can mention, ping or link anyone)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextDetection:
    """One of DetectText's TextDetections: a LINE or a WORD, its box as ratios of the image's width and height."""

    kind: str  # "LINE" | "WORD"
    text: str
    confidence: float
    left: float
    top: float
    width: float
    height: float
    id: int = 0
    parent_id: int | None = None  # a WORD's LINE
