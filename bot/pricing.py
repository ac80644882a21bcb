"""Pure: what a Rekognition call and an Amazon Translate character cost, and what a month's usage comes to.

PRICES_USD is the one price table: Amazon Rekognition Image's list price per call in us-east-1, first pricing tier
(the first 1 million images a month; DetectLabels, DetectModerationLabels and DetectText are all in its "Group 2"),
from https://aws.amazon.com/rekognition/pricing/ as found on 2026-11-25. Regions and volume tiers differ: an operator
sets LABELBOT_PRICE_PER_CALL_USD (one price for every API, or API=price pairs) and that wins.

Amazon Translate (label names the label table lacks, bot.label_translation) is priced per character sent, at
TRANSLATE_USD_PER_MILLION_CHARACTERS (TRANSLATE_PRICE_SOURCE says where and when it was found)."""

from __future__ import annotations

import re

from bot.store.protocols import REKOGNITION_APIS, MonthUsage

PRICES_USD = {"DetectLabels": 0.001, "DetectModerationLabels": 0.001, "DetectText": 0.001}
PRICES_SOURCE = "AWS list price, us-east-1, first tier, 2026-11-25"
TRANSLATE_USD_PER_MILLION_CHARACTERS = 15.0
TRANSLATE_PRICE_SOURCE = (
    "Amazon Translate list price, standard real-time translation, $15.00 per million characters, "
    "https://aws.amazon.com/translate/pricing/, 2026-12-07"
)


def parse_prices(text: str | None) -> dict[str, float]:
    """LABELBOT_PRICE_PER_CALL_USD: "0.0012" (every API) or "DetectLabels=0.0008, DetectText=0.0015" (the APIs
    named; the others keep PRICES_USD's). Raises ValueError saying what is wrong."""
    prices = dict(PRICES_USD)
    if text is None or not text.strip():
        return prices
    if "=" not in text:
        price = _price(text.strip())
        return dict.fromkeys(REKOGNITION_APIS, price)
    for part in text.split(","):
        name, _, value = (piece.strip() for piece in part.partition("="))
        if name not in REKOGNITION_APIS:
            raise ValueError(f"{name!r} is not one of {', '.join(REKOGNITION_APIS)}")
        prices[name] = _price(value)
    return prices


def _price(value: str) -> float:
    if not re.fullmatch(r"\d+(\.\d+)?", value) or not 0 <= float(value) <= 1:
        raise ValueError(f"{value!r} is not a price in US dollars from 0 to 1, such as 0.001")
    return float(value)


def month_cost(usage: MonthUsage, prices: dict[str, float]) -> float:
    """The month's estimated cost in USD: its Rekognition calls by API times each API's price, and the characters it
    sent Amazon Translate at its price (translate_cost)."""
    rekognition = sum(count * prices.get(api, 0.0) for api, count in usage.calls.items())
    return rekognition + translate_cost(usage.translate_characters)


def translate_cost(characters: int) -> float:
    """What sending these characters to Amazon Translate (TranslateText) costs, in USD."""
    return characters * TRANSLATE_USD_PER_MILLION_CHARACTERS / 1_000_000
