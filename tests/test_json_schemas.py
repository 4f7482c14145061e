"""The JSON Schemas of ace's `--json` outputs (docs/reference/schemas/) are valid draft 2020-12
schemas, each is linked from docs/reference/json.md, each example there validates against the
schema its section links, and the parts several schemas share are the same in each.

`check(name, doc)` is what the engine test validates real output with."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "docs" / "reference" / "schemas"
JSON_MD = ROOT / "docs" / "reference" / "json.md"
NAMES = sorted(p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json"))


@cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def check(name: str, doc: Any) -> None:
    """Fail with every violation of schema `name` by `doc` (path, message)."""
    errors = sorted(validator(name).iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, f"{name}.schema.json:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors)


def _sections() -> list[tuple[list[str], list[str]]]:
    """json.md's `##` sections: (schemas linked, JSON code blocks), in page order."""
    text = JSON_MD.read_text(encoding="utf-8")
    out = []
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        linked = re.findall(r"\]\(schemas/([a-z-]+)\.schema\.json\)", part)
        blocks = re.findall(r"^```json\n(.*?)^```", part, flags=re.M | re.S)
        out.append((linked, blocks))
    return out


def _documents(block: str) -> list[Any]:
    """A block holds one JSON document, or one per line (JSON lines)."""
    try:
        return [json.loads(block)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in block.splitlines() if line.strip()]


def test_schemas_are_found() -> None:
    """Every command that prints --json has its schema, and the --log-json lines have theirs."""
    assert set(NAMES) >= {"config", "plan", "reconcile", "status", "drift", "stop", "start",
                          "run", "actions", "logs", "log-json"}


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid(name: str) -> None:
    """Each schema file is a valid draft 2020-12 schema that declares its dialect."""
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema.get("title") and schema.get("description"), name


def test_every_schema_is_linked_from_json_md() -> None:
    """json.md links every schema file, each in a section of its own shape."""
    linked = [name for names, _ in _sections() for name in names]
    assert sorted(set(linked)) == NAMES
    assert len(linked) == len(set(linked)), "a schema is linked from two sections"


def test_json_md_examples_validate() -> None:
    """Each JSON example in json.md validates against the schema its section links."""
    checked = 0
    for names, blocks in _sections():
        for block in blocks:
            assert len(names) >= 1, f"an example without a schema:\n{block}"
            for doc in _documents(block):
                # stop and start share a shape; the example is one of them
                errors = [list(validator(n).iter_errors(doc)) for n in names]
                assert any(not e for e in errors), (names, [x.message for e in errors for x in e])
                checked += 1
    assert checked >= len(NAMES)


def test_shared_definitions_are_the_same_everywhere() -> None:
    """A `$defs` entry used by several schemas (error, step, action...) is identical in each."""
    seen: dict[str, tuple[str, Any]] = {}
    for name in NAMES:
        schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
        for key, value in schema.get("$defs", {}).items():
            first = seen.setdefault(key, (name, value))
            assert first[1] == value, f"$defs/{key} differs in {first[0]} and {name}"


def test_schemas_reject_what_they_should() -> None:
    """The schemas are strict: an unknown key, an unknown action or a missing key fails."""
    step = {"id": "build:/web", "app": "/web", "action": "build", "target": "t", "cause": "c",
            "depends_on": []}
    plan = {"steps": [step], "noops": [], "errors": [], "warnings": []}
    check("plan", plan)
    for bad in ({**plan, "extra": 1}, {**plan, "steps": [{**step, "action": "explode"}]},
                {k: v for k, v in plan.items() if k != "warnings"},
                {**plan, "steps": [{**step, "outcome": "done", "message": "", "seconds": 1}]}):
        assert list(validator("plan").iter_errors(bad)), bad
    drift = {"in_sync": True, "items": [{"app": "/web", "kind": "pending",
                                         "what": "container stopped", "expected": "running",
                                         "actual": "Exited"}], "idle": [], "errors": []}
    assert len(list(validator("drift").iter_errors(drift))) >= 2  # kind/what and in_sync
