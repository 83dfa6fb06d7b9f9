"""Validating configurations: the model's per-field rules, then rules across fields and across feeds.

``check_feed`` validates one configuration object and adds what its delivery
method needs, ignores and forbids (read from the method, ``deliver/*.py``);
``check_documents`` adds the rules that span feeds (at most 10 per
organisation, unique ids, file names that several feeds would write to the
same shared place). Every problem is reported at once, errors apart from
warnings. ``validated`` is the reading of one configuration a run or a probe
relies on: the feed, or a ConfigError listing every problem.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..deliver import METHODS
from ..deliver.method import Method
from ..errors import ConfigError
from .messages import Problem, a_or_an, close, explain, field_of, json_type, misspelt_as, show
from .model import COLUMNS, FIELD_NAMES, MAX_FEEDS_PER_ORGANISATION, FeedConfig, hub_name, raw_names, raw_value

log = logging.getLogger("feeds.config")

#: a document of more feeds than this is one error, its feeds unchecked (Hub allows 10 per organisation)
MAX_FEEDS_PER_DOCUMENT = 1000
#: no field takes a longer list (columns: each column once)
MAX_LIST = len(COLUMNS)
#: unknown fields listed one by one, and those of them given a "did you mean", per document
MAX_UNKNOWN_LISTED = 1000
MAX_SUGGESTIONS = 100


@dataclass
class FeedCheck:
    """The outcome of checking one feed configuration."""

    feed: FeedConfig | None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    #: whether a feed was there to check: not for a document's own problems (an empty list), nor for an
    #: entry that is not an object
    is_feed: bool = True

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class Budget:
    """What one document may still cost beyond its fields: "did you mean" suggestions (a comparison each) and
    unknown-field warnings (more than are listed would only take time and memory)."""

    suggestions: int = MAX_SUGGESTIONS
    warnings: int = MAX_UNKNOWN_LISTED


def check_feed(raw: Any, prefix: str = "", budget: Budget | None = None) -> FeedCheck:
    """Check one configuration object; report every problem at once."""

    def at(path: str) -> str:
        return f"{prefix}.{path}" if prefix and path else (prefix or path)

    if not isinstance(raw, dict):
        return FeedCheck(None, [Problem(prefix, f"must be a feed configuration object, not {json_type(raw)}")],
                         is_feed=False)

    errors: list[Problem] = []
    warnings: list[Problem] = []
    feed: FeedConfig | None = None
    # A list longer than any field takes is one problem, not one per item: a hostile document's
    # million entries must not become a million errors (SPEC §11: validate stays linear).
    oversized = {key for key, value in raw.items() if isinstance(value, list) and len(value) > MAX_LIST}
    for key in sorted(oversized):
        errors.append(Problem(at(key), f"lists {len(raw[key])} entries; a feed has at most {len(COLUMNS)} columns, "
                                       "each once: " + ", ".join(COLUMNS)))
    checked = {key: ([] if key in oversized else value) for key, value in raw.items()} if oversized else raw
    unknown, unlisted = _unknown_fields(raw, budget or Budget())
    misspelt = _misspellings(raw, unknown)
    told: set[str] = set()  # misspelt fields whose missing field's message names them
    try:
        feed = FeedConfig.model_validate(checked)
    except ValidationError as exc:
        reported = exc.errors()
        item_errors = {e["loc"][0] for e in reported if len(e["loc"]) > 1}
        for error in reported:
            if error["loc"] and error["loc"][0] in oversized:
                continue  # said once above
            if error["type"] == "too_short" and error["loc"][0] in item_errors:
                continue  # the bad items are reported one by one
            problem = explain(error, raw, misspelt)
            errors.append(Problem(at(problem.path), problem.message))
            if error["type"] == "missing" and error["loc"]:
                told.add(field_of(error["loc"][0]) or "")

    method_name = raw.get("delivery_method")
    method = METHODS.get(method_name) if isinstance(method_name, str) else None
    if method is not None:
        for path, message in _required_by(method, raw, misspelt, told):
            errors.append(Problem(at(path), message))

    # Unknown fields: Hub adds fields in minor releases, so they only warn (a misspelt required field was
    # said with its missing field's error).
    for key, guess in unknown.items():
        if guess is None or field_of(guess) not in told:
            hint = f" (did you mean '{guess}'?)" if guess else ""
            warnings.append(Problem(at(key), f"is not a feed configuration field and is ignored{hint}"))
    if unlisted:
        warnings.append(Problem(prefix, f"has {unlisted} more fields that are not feed configuration fields; "
                                        "they are ignored"))

    def spelt(name: str) -> str:
        """A field as this configuration spells it."""
        return next((key for key in raw_names(name) if key in raw), hub_name(name))

    if method is not None:
        method_errors, method_warnings = method.check(raw, feed)
        errors += [Problem(at(path), message) for path, message in method_errors]
        warnings += [Problem(at(path), message) for path, message in method_warnings]
        for other in METHODS.values():
            if other is method:
                continue
            for name in sorted(set(other.fields) - set(method.fields)):
                if raw_value(raw, name) is not None:
                    warnings.append(Problem(at(spelt(name)), f"is ignored by {a_or_an(method.name)} feed (it is for "
                                                             f"{other.name} delivery)"))
        if not method.uses_filename_pattern and raw.get("filename") is not None:
            warnings.append(Problem(at("filename"), f"is ignored by {a_or_an(method.name)} feed, which uses "
                                                    f"{method.file_name_field()}"))
        for name, fixed in (method.fixed_format or {}).items():
            if raw.get(name) is not None and raw[name] != fixed:
                warnings.append(Problem(at(name), f"is ignored: {method.name} feeds always use {show(fixed)} "
                                                  "(a fixed format)"))
    if errors:
        feed = None
    return FeedCheck(feed, errors, warnings)


def _required_by(method: Method, raw: dict[str, Any], misspelt: dict[str, str],
                 told: set[str]) -> list[tuple[str, str]]:
    """The fields ``method`` needs that ``raw`` lacks: (path, message), naming a misspelling of the field
    when ``raw`` holds one (and adding the field to ``told``)."""
    problems = []
    for name in method.required:
        if raw_value(raw, name) is None:
            hint = method.fields[name].hint
            if name in misspelt:
                told.add(name)
                hint = misspelt_as(misspelt[name], hub_name(name))
            elif hint:
                hint = f": {hint}"
            problems.append((hub_name(name), f"is required for {a_or_an(method.name)} feed{hint}"))
    return problems


def _unknown_fields(raw: dict[str, Any], budget: Budget) -> tuple[dict[str, str | None], int]:
    """The keys that are not feed configuration fields, each with the field it may be a misspelling of, and
    how many more there are than are listed. Suggestions cost a comparison each: only the first get them."""
    unknown = [key for key in raw if key not in FIELD_NAMES]
    listed: dict[str, str | None] = {}
    for number, key in enumerate(unknown):
        if number == MAX_UNKNOWN_LISTED or budget.warnings <= 0:
            return listed, len(unknown) - number
        budget.warnings -= 1
        guess = None
        if budget.suggestions > 0:
            budget.suggestions -= 1
            guess = close(key, FIELD_NAMES)
        listed[key] = guess
    return listed, 0


def _misspellings(raw: dict[str, Any], unknown: dict[str, str | None]) -> dict[str, str]:
    """Fields absent from ``raw`` whose misspelling it holds: field -> the key as written (the first one)."""
    misspelt: dict[str, str] = {}
    for key, guess in unknown.items():
        field_name = field_of(guess) if guess else None
        if field_name is not None and not any(name in raw for name in raw_names(field_name)):
            misspelt.setdefault(field_name, key)
    return misspelt


def check_documents(documents: list[tuple[str, Any]]) -> list[list[FeedCheck]]:
    """Check parsed JSON documents: each one feed object or a list of them.

    Returns the checks of each document's feeds, in order, with the rules
    that span feeds applied across all documents (one validation run).
    """
    results: list[list[FeedCheck]] = []
    by_organisation: dict[int, int] = {}
    ids: dict[int, str] = {}
    shared_names: dict[tuple[str, str], str] = {}
    for source, document in documents:
        if isinstance(document, list):
            if len(document) > MAX_FEEDS_PER_DOCUMENT:
                results.append([FeedCheck(None, [Problem("", f"holds {len(document)} feeds; a file holds at most "
                                                             f"{MAX_FEEDS_PER_DOCUMENT} (its feeds were not checked)")],
                                          is_feed=False)])
                continue
            items = [(f"feeds[{i}]", item) for i, item in enumerate(document)]
            if not items:
                results.append([FeedCheck(None, [Problem("", "is an empty list, so it holds no feed; give one feed "
                                                             "configuration object, or a list of at least one")],
                                          is_feed=False)])
                continue
        else:
            items = [("", document)]
        checks = []
        budget = Budget()  # per document: a hostile file of many feeds stays linear (SPEC §11)
        for prefix, item in items:
            check = check_feed(item, prefix, budget)
            if isinstance(item, dict):
                here = f"{source} {prefix}".strip()
                org = item.get("organisation")
                if isinstance(org, int) and not isinstance(org, bool) and org > 0:
                    by_organisation[org] = by_organisation.get(org, 0) + 1
                    if by_organisation[org] > MAX_FEEDS_PER_ORGANISATION:
                        check.errors.append(Problem(
                            f"{prefix}.organisation" if prefix else "organisation",
                            f"organisation {org} has {by_organisation[org]} feeds in this validation run; "
                            f"Hub allows at most {MAX_FEEDS_PER_ORGANISATION} per organisation",
                        ))
                        check.feed = None
                method = check.feed.method if check.feed is not None else None
                shared = method.shared_name(check.feed) if method is not None else None
                if method is not None and shared:
                    name_field = method.file_name_field()
                    if (method.name, shared) in shared_names:
                        check.warnings.append(Problem(
                            f"{prefix}.{name_field}" if prefix else name_field,
                            f"{show(shared)} is also the {name_field} of {shared_names[method.name, shared]}; both "
                            f"files go to the same place ({method.name}) and the later one replaces the other",
                        ))
                    else:
                        shared_names[method.name, shared] = here
                fid = item.get("id")
                if isinstance(fid, int) and not isinstance(fid, bool):
                    if fid in ids:
                        check.errors.append(Problem(
                            f"{prefix}.id" if prefix else "id",
                            f"id {fid} is given twice (also in {ids[fid]}); each feed needs its own id",
                        ))
                        check.feed = None
                    else:
                        ids[fid] = here
            checks.append(check)
        results.append(checks)
    return results


def validated(raw: Mapping[str, Any], feed_id: int | None = None) -> FeedConfig:
    """One configuration as a run or a probe reads it: the feed (its warnings logged), or a ConfigError."""
    check = check_feed(raw)
    label = f"feed {feed_id if feed_id is not None else raw.get('id')}"
    for warning in check.warnings:
        log.warning("%s: %s", label, warning)
    if check.feed is None:
        problems = [str(p) for p in check.errors]
        raise ConfigError(f"{label} is invalid: " + "; ".join(problems), problems)
    return check.feed
