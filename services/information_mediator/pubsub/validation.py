"""JSON Schema validation of events that one publisher cannot turn into a stall of the IM.

Python's `re` backtracks (`^(a+)+$` against 30 characters that almost match runs for minutes) and holds
the GIL meanwhile, so every regex of an event-type schema runs on RE2 instead: linear in its input, and it
releases the GIL. A schema whose regexes RE2 cannot run (look-around, back-references) is refused when the
event type is created. Other keywords can still be made costly (`$ref` chains that double at each level),
so every keyword checks a deadline, and `uniqueItems` is checked in linear time instead of pairwise.
jsonschema would fetch a remote `$ref` (urlopen, no timeout: a stall and a request from inside the IM's
network); schemas are resolved offline, and one that names a remote schema is refused.
"""

from __future__ import annotations

import functools
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

import re2
from jsonschema import Draft202012Validator, FormatChecker, SchemaError, ValidationError, validators
from jsonschema.protocols import Validator
from jsonschema_specifications import REGISTRY as OFFLINE  # the JSON Schema meta-schemas, nothing fetched
from referencing import Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

MAX_ERRORS = 5  # reported per refused event
MAX_MESSAGE = 200  # characters per reported error: a message may quote the whole instance

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is the publisher's error, not ours to log
_RE2_OPTIONS.never_capture = True

# Keywords whose values are instances, not subschemas: a "pattern" inside them is data.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


class Refused(ValueError):
    """A schema or an event refused; the message says why."""


@functools.lru_cache(maxsize=256)  # re2 has a cache too, but reads its 13 options at every call
def regex(pattern: str) -> Any:
    """The compiled RE2 expression; re2.error when RE2 does not support it."""
    return re2.compile(pattern, _RE2_OPTIONS)


# ---- registration ------------------------------------------------------------------------------------


def check_schema(schema: object) -> None:
    if not isinstance(schema, dict):
        raise Refused("schema must be a JSON Schema object")
    try:
        validators.validator_for(schema, default=Draft202012Validator).check_schema(schema)
        keywords, patterns, references = _scan(schema)
    except SchemaError as exc:
        raise Refused(f"schema is not a valid JSON Schema: {_short(exc.message)}") from exc
    except RecursionError as exc:
        raise Refused("schema is nested too deeply") from exc
    for pattern in patterns:
        try:
            regex(pattern)
        except re2.error as exc:
            raise Refused(
                f'schema pattern "{_short(pattern)}" is not supported: {_reason(exc)} (patterns run on a '
                "linear-time engine, RE2: no look-around, no back-references)"
            ) from exc
    _check_references(schema, references)
    if {"patternProperties", "unevaluatedProperties"} <= keywords:
        # jsonschema evaluates patternProperties for unevaluatedProperties with Python's `re`.
        raise Refused("schema may not combine patternProperties with unevaluatedProperties")


def _scan(schema: object) -> tuple[set[str], list[str], list[str]]:
    """The keywords used anywhere in `schema`, every regex it holds (pattern, patternProperties) and every
    reference ($ref, $dynamicRef)."""
    keywords: set[str] = set()
    patterns: list[str] = []
    references: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                keywords.add(key)
                if key in _DATA_KEYWORDS:
                    continue
                if key == "pattern" and isinstance(value, str):
                    patterns.append(value)
                elif key == "patternProperties" and isinstance(value, dict):
                    patterns.extend(value)
                elif key in ("$ref", "$dynamicRef") and isinstance(value, str):
                    references.append(value)
                walk(value)

    walk(schema)
    return keywords, patterns, references


def _check_references(schema: dict, references: list[str]) -> None:
    """Absolute references must name the schema itself, one of its parts or a JSON Schema meta-schema."""
    resolver = OFFLINE.resolver_with_root(Resource.from_contents(schema, default_specification=DRAFT202012))
    for reference in references:
        if not urlsplit(reference).scheme:
            continue  # relative: resolved offline at validation, against the schema's own $id
        try:
            resolver.lookup(reference)
        except Unresolvable as exc:
            raise Refused(
                f'schema refers to "{_short(reference)}", which the IM does not fetch: define it under $defs'
            ) from exc


def _reason(exc: re2.error) -> str:
    reason = exc.args[0] if exc.args else ""
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


# ---- validation --------------------------------------------------------------------------------------


def validate(schema_json: str, event: object, seconds: float) -> None:
    """Refuses `event` when it does not match the schema, or when checking it takes longer than `seconds`."""
    validator = _validator(schema_json)
    _deadline.at = time.monotonic() + seconds
    try:
        errors = list(islice(validator.iter_errors(event), MAX_ERRORS))
    except _TooSlow as exc:
        raise Refused(f"checking the event against its schema took longer than {seconds:g} s") from exc
    except RecursionError as exc:
        raise Refused("the event is nested too deeply to check against its schema") from exc
    except (Unresolvable, re2.error) as exc:
        raise Refused(f"the event type's schema cannot be applied: {_short(str(exc))}") from exc
    finally:
        _deadline.at = math.inf
    if errors:
        errors.sort(key=lambda e: [str(p) for p in e.absolute_path])
        where = lambda e: "/".join(str(p) for p in e.absolute_path) or "(root)"  # noqa: E731
        raise Refused(
            "event does not match the schema of its type: "
            + "; ".join(f"{where(e)}: {_short(e.message)}" for e in errors)
        )


@functools.lru_cache(maxsize=128)
def _validator(schema_json: str) -> Validator:
    schema = json.loads(schema_json)
    cls = _bounded(validators.validator_for(schema, default=Draft202012Validator))
    return cls(schema, format_checker=_FORMATS, registry=OFFLINE)


class _TooSlow(Exception):
    pass


_deadline = threading.local()  # validations run in the request's worker thread; each has its own deadline

Keyword = Callable[[Validator, Any, Any, dict], Iterator[ValidationError] | None]


def _with_deadline(keyword: Keyword) -> Keyword:
    def checked(validator: Validator, value: Any, instance: Any, schema: dict) -> Iterator[ValidationError] | None:
        if time.monotonic() > getattr(_deadline, "at", math.inf):
            raise _TooSlow
        return keyword(validator, value, instance, schema)

    return checked


def _pattern(validator: Validator, pattern: str, instance: Any, schema: dict) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Validator, patterns: dict, instance: Any, schema: dict) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        compiled = regex(pattern)
        for key, value in instance.items():
            if compiled.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Validator, allowed: Any, instance: Any, schema: dict
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = [regex(p) for p in schema.get("patternProperties", {})]
    extras = [k for k in instance if k not in properties and not any(p.search(k) for p in patterns)]
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        yield ValidationError(f"additional properties are not allowed ({', '.join(map(repr, sorted(extras)))})")


def _unique_items(validator: Validator, unique: Any, instance: Any, schema: dict) -> Iterator[ValidationError]:
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for item in instance:
        key = json.dumps(_canonical(item), sort_keys=True)
        if key in seen:
            yield ValidationError("has non-unique elements")
            return
        seen.add(key)


def _canonical(value: Any) -> Any:
    """JSON Schema equality as a JSON text: 1.0 is 1, key order does not matter, true is not 1."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


_OVERRIDES: dict[str, Keyword] = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "uniqueItems": _unique_items,
}


@functools.cache
def _bounded(base: type[Validator]) -> type[Validator]:
    """`base` with the keywords above and a deadline check before every keyword."""
    keywords = {name: _with_deadline(_OVERRIDES.get(name, fn)) for name, fn in base.VALIDATORS.items()}
    return validators.extend(base, keywords)


_INSTANCE_RE2_OPTIONS = re2.Options()
_INSTANCE_RE2_OPTIONS.log_errors = False
_INSTANCE_RE2_OPTIONS.max_mem = 1 << 20  # an event's string checked as a regex: less memory than a schema's


def _is_regex(instance: object) -> bool:
    return not isinstance(instance, str) or bool(re2.compile(instance, _INSTANCE_RE2_OPTIONS))


_FORMATS = FormatChecker()
_FORMATS.checks("regex", raises=re2.error)(_is_regex)
