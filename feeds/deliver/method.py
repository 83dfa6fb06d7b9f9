"""What a delivery method is: everything about one ``delivery_method`` in one place.

A method module (``email.py``, ``ftp.py``, ``sitc.py``) defines one ``Method``
subclass and one instance, ``METHOD``, listed in ``deliver/__init__.py``. The
method owns:

- the feed configuration fields it reads, their types, rules and hints
  (``fields``), those a feed must have (``required``), and a fixed file format
  when it has one; the feed model, the validator and ``feeds schema`` are
  built from these; what people write instead of a name (``natural_values``)
  for "did you mean";
- its settings sections (``settings_sections``): the wiring gathers them into
  the product's settings, and hands the method those sections alone (``own``,
  a namespace such as ``own.smtp``), never the whole settings;
- where a feed's file goes (``target``: a ``Target`` whose ``place`` is the
  method's own description of it), how that is described in logs, history,
  ``feeds list`` and outbox manifests (``describe``, ``destination``,
  ``manifest``), and which destinations one connection test covers
  (``probe_key``);
- sending (``send``), removing what a failed upload left (``cleanup``) and
  testing a destination without sending a feed (``probe``), with its
  library's errors mapped to transient or permanent ``DeliveryError``s;
- what the outbox writes instead of sending (``outbox_file``);
- a file name every organisation writes to, if it has one (``shared_name``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic.fields import FieldInfo

from ..filenames import HUB_DEFAULT_PATTERN, expand_pattern
from ..sections import Section

if TYPE_CHECKING:  # the model is built from the methods, so they only name it
    from ..config import FeedConfig
    from .base import Context, Job, Target

#: a rule's finding: (field, message)
Finding = tuple[str, str]
#: a method's own settings sections, by name (``own.smtp``): nothing else of the settings
Own = SimpleNamespace


@dataclass(frozen=True)
class FeedField:
    """A feed configuration field a method reads: its type (with rules), pydantic field and hint."""

    annotation: Any
    info: FieldInfo
    hint: str = ""  #: what to give, shown after "is required for ... feed:"


class Method(ABC):
    """A delivery method. Subclasses set the class attributes and implement the abstract hooks."""

    name: ClassVar[str]
    fields: ClassVar[dict[str, FeedField]] = {}
    required: ClassVar[tuple[str, ...]] = ()
    #: (delimiter, escape method, header row) forced on every feed of the method, if any
    fixed_format: ClassVar[dict[str, Any] | None] = None
    #: whether the feed's ``filename`` pattern names the file (else the method names it)
    uses_filename_pattern: ClassVar[bool] = True
    settings_sections: ClassVar[dict[str, type[Section]]] = {}
    #: JSON Schema a feed of this method must also match, beside its required fields
    schema_then: ClassVar[dict[str, Any]] = {}
    #: what people write instead of a name, by field (``delivery_method`` too): the word folded (lower case,
    #: no spaces, ``-`` or ``_``) -> (the name meant, what "did you mean" adds after it)
    natural_values: ClassVar[dict[str, dict[str, tuple[str, str]]]] = {}

    # --- configuration ---------------------------------------------------------

    def check(self, raw: Mapping[str, Any], feed: FeedConfig | None) -> tuple[list[Finding], list[Finding]]:
        """Rules across this method's fields: (errors, warnings). ``feed`` is None when invalid."""
        return [], []

    def port(self, feed: FeedConfig) -> int | None:
        """The port a feed's own server listens on, when the method has one."""
        return None

    def file_name(self, feed: FeedConfig, when: datetime) -> str:
        """The name of the file a feed delivers, generated at ``when`` (SPEC §3)."""
        return expand_pattern(feed.filename or HUB_DEFAULT_PATTERN, when)

    def file_name_field(self) -> str:
        return "filename"

    def shared_name(self, feed: FeedConfig) -> str | None:
        """A file name every organisation's feeds write to (SITC's one folder); None when each has its own.

        The first organisation that delivers under such a name owns it; another
        organisation's feed with that name fails before the upload (SPEC §11).
        """
        return None

    @abstractmethod
    def destination(self, raw: Mapping[str, Any]) -> str:
        """Where a feed's file goes, from Hub's raw configuration (``feeds list``): lenient, no secrets."""

    # --- delivery --------------------------------------------------------------

    @abstractmethod
    def target(self, feed: FeedConfig, own: Own) -> Target:
        """Where this feed's file goes; ConfigError or SettingsError before anything is sent."""

    @abstractmethod
    def describe(self, target: Target, filename: str = "") -> str:
        """The destination as summaries, history and manifests show it: no secrets."""

    def manifest(self, target: Target) -> dict[str, Any]:
        """What an outbox manifest says about the destination beyond ``describe``: secrets masked."""
        return {}

    def probe_key(self, target: Target) -> Hashable:
        """What one connection test covers: targets with the same key share a probe (``feeds check``).

        By default the whole place, secrets included: two feeds that log in
        with different passwords never share a verdict.
        """
        return (self.name, target.place)

    @abstractmethod
    def send(self, job: Job, target: Target, context: Context, own: Own) -> str:
        """Deliver once; DeliveryError(transient=...) on failure; return the destination."""

    def prepare(self, target: Target | None = None) -> None:
        """What a delivery would otherwise pay for on its first use (templates, libraries loaded on demand):
        all of it (no target) once per long-lived process, the daemon or a worker, at its start; or what
        ``target`` needs, which a run does in the background while it reads the catalogue."""

    def cleanup(self, target: Target, context: Context, own: Own) -> None:
        """Remove temporary files a failed last attempt left (best effort)."""

    def landed(self, target: Target, context: Context, own: Own) -> bool | None:
        """Whether the delivery interrupted at ``context.publishing`` made its file visible.

        True: it did, so it must not be sent again; False: it did not, send it;
        None: this method cannot tell, and the file is not sent again (a
        duplicate is worse than a missing file a person can resend).
        """
        return None

    @abstractmethod
    def probe(self, target: Target, context: Context, own: Own) -> str:
        """Test the destination without sending a feed; return what was checked, or raise DeliveryError."""

    def outbox_file(self, job: Job, target: Target, own: Own) -> tuple[str, bytes | Path, dict[str, Any]]:
        """What the outbox writes instead of sending: (file name, content, manifest details)."""
        return job.filename, job.path, {}
