"""Names of a package loaded on first use (PEP 562).

A package whose ``__init__`` imports its parts makes every importer pay for
all of them: ``[state]`` and ``[schedule]`` are read by every command, so
``feeds.ledger.settings`` would load SQLAlchemy and ``feeds.daemon.settings``
the daemon before ``feeds run`` could ask Hub anything. Such a package lists
where each name lives and lets ``exports`` import it when it is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: ``where`` maps each name to its module in the package."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{where[name]}", package), name)

    return __getattr__
