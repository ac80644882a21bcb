"""manifest.yml against Slack's published app-manifest JSON schema (tests/schemas/, from slackapi/manifest-schema)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft7Validator

from bot.labels_command import VERBS
from bot.oauth import REDIRECT_PATH

SCHEMAS = Path(__file__).parent / "schemas"
MANIFEST = Path(__file__).parent.parent / "manifest.yml"


def load_manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def load_schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def versioned_schema_name(manifest: dict) -> str:
    """The versioned schema Slack's main schema applies to this manifest: its oneOf branches are each a condition on
    `_metadata` and a $ref, and exactly one condition holds."""
    [ref] = [
        branch["allOf"][1]["$ref"]
        for branch in load_schema("manifest.schema.json")["oneOf"]
        if Draft7Validator(branch["allOf"][0]).is_valid(manifest)
    ]
    return Path(urlsplit(ref).path).name


def schema_errors(manifest: dict) -> list[str]:
    """Every way the manifest breaks the schema that applies to it, each with where."""
    schema = load_schema(versioned_schema_name(manifest))
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(manifest), key=lambda error: list(error.absolute_path))
    return [f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}" for error in errors]


def test_the_kept_schemas_are_valid_draft_7_schemas():
    for name in ("manifest.schema.json", "manifest.schema.1.0.0.json"):
        Draft7Validator.check_schema(load_schema(name))


def test_the_manifest_is_valid_against_slacks_schema():
    manifest = load_manifest()

    assert versioned_schema_name(manifest) == "manifest.schema.1.0.0.json"  # no _metadata: Slack's 1.0.0 format
    assert schema_errors(manifest) == []


@pytest.mark.parametrize(
    ("metadata", "schema"),
    [({"major_version": 1}, "manifest.schema.1.0.0.json"), ({"major_version": 2}, "manifest.schema.2.0.0.json")],
)
def test_the_main_schema_picks_the_version_by_metadata(metadata, schema):
    assert versioned_schema_name({**load_manifest(), "_metadata": metadata}) == schema


def _without_app_name(manifest: dict) -> None:
    del manifest["display_information"]["name"]


def _with_unknown_setting(manifest: dict) -> None:
    manifest["settings"]["socket_mode"] = True  # the setting is socket_mode_enabled


def _with_long_shortcut_name(manifest: dict) -> None:
    manifest["features"]["shortcuts"][0]["name"] = "Label every image in this message"  # at most 24 characters


def _with_command_without_slash(manifest: dict) -> None:
    manifest["features"]["slash_commands"][0]["command"] = "labels"


def _with_event_twice(manifest: dict) -> None:
    manifest["settings"]["event_subscriptions"]["bot_events"].append("message.channels")


@pytest.mark.parametrize(
    ("breakage", "where", "what"),
    [
        (_without_app_name, "display_information", "'name' is a required property"),
        (_with_unknown_setting, "settings", "Additional properties are not allowed ('socket_mode' was unexpected)"),
        (_with_long_shortcut_name, "features/shortcuts/0/name", "'Label every image in this message' is too long"),
        (_with_command_without_slash, "features/slash_commands/0/command", "'labels' does not match '^\\\\/'"),
        (_with_event_twice, "settings/event_subscriptions/bot_events", "has non-unique elements"),
    ],
)
def test_the_schema_rejects_a_broken_manifest(breakage, where, what):
    """Not vacuous: each of these breaks Slack's schema, and the check says where and how."""
    manifest = copy.deepcopy(load_manifest())
    breakage(manifest)

    [error] = schema_errors(manifest)

    assert error.startswith(f"{where}: ") and what in error, error


def test_the_labels_usage_hint_shows_subcommands_the_grammar_knows_moderation_among_them():
    [command] = load_manifest()["features"]["slash_commands"]
    hint = command["usage_hint"]
    verbs = [part.split()[0] for part in hint.split("|")]

    assert set(verbs) <= set(VERBS)
    assert "moderation" in verbs
    assert len(hint) <= 1000  # Slack's limit (the schema's maxLength), checked above too


def test_the_redirect_url_is_the_bots_and_uninstalls_are_heard():
    """Many workspaces (README, "Add to Slack"): Slack sends installs back to the bot's own redirect path, and tells
    it of an uninstall, whose records it then deletes."""
    manifest = load_manifest()
    [redirect] = manifest["oauth_config"]["redirect_urls"]
    assert urlsplit(redirect).scheme == "https" and urlsplit(redirect).path == REDIRECT_PATH
    assert {"app_uninstalled", "tokens_revoked"} <= set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert REDIRECT_PATH in (MANIFEST.parent / "README.md").read_text(encoding="utf-8")
