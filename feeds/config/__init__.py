"""Feed configurations (SPEC §2): the model, its messages, the checks, the schema, Hub's raw feeds.

- ``model.py``: ``FeedConfig``, built from the common fields and the delivery methods' fields;
- ``messages.py``: pydantic's errors as sentences that say what would be right;
- ``validate.py``: validating configurations: rules across fields (per delivery method) and across feeds;
- ``schema.py``: the JSON Schema for ``feeds schema``;
- ``hub_feed.py``: the lenient reading of a feed as Hub sends it, and its masked form.
"""

from __future__ import annotations

from .validate import FeedCheck, check_documents, check_feed, validated
from .hub_feed import HubFeed, masked
from .messages import Problem
from .model import COLUMNS, MAX_FEEDS_PER_ORGANISATION, SECRET_FIELDS, FeedConfig, raw_names
from .schema import json_schema

__all__ = ["COLUMNS", "MAX_FEEDS_PER_ORGANISATION", "SECRET_FIELDS", "FeedCheck", "FeedConfig", "HubFeed", "Problem", "raw_names",
           "check_documents", "check_feed", "json_schema", "masked", "validated"]
