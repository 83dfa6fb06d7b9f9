"""The Jinja2 templates of ``templates/``: mail subjects and bodies, status pages.

Found through the installed package (``feeds.templates``), so that ``pip
install .`` finds them as well as an editable install. HTML templates are
autoescaped: values from configurations and servers are text, never markup.
"""

from __future__ import annotations

import importlib.resources
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    import jinja2  # lazy: only a run that mails, or the status page, needs the templates

    folder = importlib.resources.files("feeds.templates")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
