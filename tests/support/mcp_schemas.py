"""The published MCP discovery schemas, to check what the platform serves against them.

Copied unchanged from their sources:

* `schemas/server.schema.json`: the registry's `server.json`, version 2025-12-11, as published at
  https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json
  (modelcontextprotocol/static, commit 12022abc5a8c1cb839f7fadd5f74727709bfa07f).
* `schemas/server-card.schema.json`: the Server Card of SEP-2127, schema v1
  (modelcontextprotocol/experimental-ext-server-card `schema.json`, commit
  56ab90b19c91fb57855cdb014d2d7597974531b0); its `ServerCard` definition is the document.

jsonschema checks no `uri` format without extra packages, so callers check URLs themselves.
"""

import json
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from jsonschema import Draft7Validator, Draft202012Validator

_HERE = Path(__file__).parent / "schemas"


def _load(name: str) -> dict:
    return json.loads((_HERE / name).read_text())


@cache
def _server_json() -> Draft7Validator:
    return Draft7Validator(_load("server.schema.json"))


@cache
def _server_card() -> Draft202012Validator:
    schema = _load("server-card.schema.json")
    return Draft202012Validator({**schema, "$ref": "#/$defs/ServerCard"})


def _errors(validator, document) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def server_json_errors(document: dict) -> list[str]:
    """Why `document` is not a valid `server.json` (2025-12-11); empty when it is."""
    return _errors(_server_json(), document)


def server_card_errors(document: dict) -> list[str]:
    """Why `document` is not a valid Server Card (v1); empty when it is."""
    return _errors(_server_card(), document)


def is_absolute_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
