"""Reports of ``feeds validate`` and ``feeds upload``: what is wrong with each file, or each feed on Hub."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import loader
from .config import FeedCheck, FeedConfig, Problem, check_documents
from .errors import ConfigError, UsageError

if TYPE_CHECKING:
    from .hub import Hubs


#: problems listed per file; the rest are counted (SPEC §11)
MAX_LISTED = 1000


@dataclass
class Report:
    """The verdict on one file (or one feed stored on Hub)."""

    source: str
    checks: list[FeedCheck] = field(default_factory=list)
    unreadable: str | None = None
    notes: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for c in self.checks for p in c.errors]

    @property
    def warnings(self) -> list[Problem]:
        return self.notes + [p for c in self.checks for p in c.warnings]

    @property
    def feeds(self) -> int:
        """The feeds checked: a document's own problems (an empty list) and entries that are not objects are
        not feeds."""
        return sum(check.is_feed for check in self.checks)

    @property
    def valid(self) -> bool:
        return self.unreadable is None and not self.errors

    def listed(self) -> tuple[list[Problem], list[Problem], int]:
        """The errors and warnings to list (errors first, ``MAX_LISTED`` in all) and how many more there are."""
        errors, warnings = self.errors, self.warnings
        shown_errors = errors[:MAX_LISTED]
        shown_warnings = warnings[: MAX_LISTED - len(shown_errors)]
        return shown_errors, shown_warnings, len(errors) + len(warnings) - len(shown_errors) - len(shown_warnings)

    def to_text(self) -> str:
        if self.unreadable:
            return f"{self.source}: cannot be validated: it {self.unreadable}"
        errors, warnings = self.errors, self.warnings
        feeds = self.feeds
        what = f"{feeds} feed{'s' if feeds != 1 else ''}"
        if errors:
            counted = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
            head = f"{self.source}: invalid ({counted} in {what})" if feeds else \
                f"{self.source}: invalid ({counted}, no feed)"
        else:
            head = f"{self.source}: valid ({what})"
        if warnings:
            head += f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
        shown_errors, shown_warnings, more = self.listed()
        lines = [head]
        lines += [f"  error: {p}" for p in shown_errors]
        lines += [f"  warning: {p}" for p in shown_warnings]
        if more:
            lines.append(f"  ... and {more} more problems, not listed")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        shown_errors, shown_warnings, more = self.listed()
        return {
            "file": self.source,
            "valid": self.valid,
            "unreadable": self.unreadable,
            "feeds": self.feeds,
            "errors": [{"path": p.path, "message": p.message} for p in shown_errors],
            "warnings": [{"path": p.path, "message": p.message} for p in shown_warnings],
            "not_listed": more,
        }


def exit_status(reports: list[Report]) -> int:
    if any(r.unreadable for r in reports):
        return 2
    return 0 if all(r.valid for r in reports) else 1


def _duplicate_notes(doc: loader.Document) -> list[Problem]:
    return [
        Problem(key, "appears more than once in one object; the last value is used")
        for key in doc.duplicate_keys
    ]


def check_paths(paths: list[str]) -> list[Report]:
    documents = [loader.read(path) for path in paths]
    readable = [d for d in documents if d.unreadable is None]
    checked = iter(check_documents([(d.source, d.data) for d in readable]))
    reports = []
    for doc in documents:
        if doc.unreadable is not None:
            reports.append(Report(doc.source, unreadable=doc.unreadable))
        else:
            reports.append(Report(doc.source, next(checked), notes=_duplicate_notes(doc)))
    return reports


def check_remote(hubs: Hubs, feed_id: int | None) -> list[Report]:
    """The configurations stored on Hub, as every credential set sees them (each feed once).

    A feed whose organisation has no credentials in the settings is an error of that feed: every run of
    it fails before its catalogue is read (SPEC §10).
    """
    raws = [hubs.get_feed(feed_id)] if feed_id is not None else hubs.list_feeds()
    sources = [f"feed {raw.get('id')} ({raw.get('name')})" for raw in raws]
    results = check_documents(list(zip(sources, raws)))
    for checks in results:
        for check in checks:
            if check.feed is not None:
                _needs_credentials(hubs, check)
    return [Report(source, checks) for source, checks in zip(sources, results)]


def _needs_credentials(hubs: Hubs, check: FeedCheck) -> None:
    """An error on ``check`` when its feed's organisation has no credentials to read its catalogue with."""
    try:
        hubs.for_organisation(check.feed.organisation)  # type: ignore[union-attr]
    except ConfigError as exc:
        check.errors.append(Problem("organisation", str(exc)))
        check.feed = None


def uploadable(path: str) -> list[FeedConfig]:
    """The feeds of a file, validated for upload; ConfigError lists every problem."""
    doc = loader.read(path)
    if doc.unreadable is not None:
        raise UsageError(f"{doc.source} {doc.unreadable}")
    (checks,) = check_documents([(doc.source, doc.data)])
    problems = [str(p) for c in checks for p in c.errors]
    if problems:
        raise ConfigError(f"{doc.source} is invalid, nothing was uploaded: " + "; ".join(problems), problems)
    return [c.feed for c in checks if c.feed is not None]
