"""Settings: a TOML file, overridden key by key by FEEDS_<SECTION>_<KEY>.

This module reads; it does not know what the sections are. The parts of the
program declare their own sections (``sections.Section``), ``wiring.py``
composes them into the product's ``Settings`` with ``compose``, and ``load``
fills any such model from a file and the environment.

The file is chosen by ``--config``, else ``$FEEDS_CONFIG``, else
``./feeds.toml`` when it exists, else the built-in defaults are used (the
command line asks for a file: ``load(..., required=True)``). Unknown keys and
wrong types are errors that name the key (exit status 2), because a misspelt
setting that is silently ignored is worse than one that stops.

A relative path in the file (a ``LocalPath`` field: the ledger, the archive,
the outbox, CA files, known_hosts) is taken from the file's folder, so that
every command reads the same ledger wherever it is run from; a relative path
in a ``FEEDS_*`` variable is taken from the current directory, like a command
line argument. Where each value came from is kept (``Settings.origin``), so
that commands can say which ledger they read and why.

``read_env_file`` reads ``FEEDS_*`` variables from a ``KEY=VALUE`` file (the
service's ``EnvironmentFile``), for ``feeds --env-file``.

Every ``SecretStr`` value of every section is registered as a secret when the
settings are read, so that it is masked in everything the process writes.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

from pydantic import Field, SecretStr, ValidationError, create_model

from . import redact
from .errors import SettingsError
from .sections import PATH, Section

log = logging.getLogger("feeds.settings")

ENV_PREFIX = "FEEDS_"
#: FEEDS_* variables that are not settings keys.
ENV_NOT_SETTINGS = {"FEEDS_CONFIG", "FEEDS_FAILPOINT"}

S = TypeVar("S", bound="SettingsBase")


class SettingsBase(Section):
    """The settings of the whole product: one field per section (``compose`` adds them)."""

    #: where the settings came from, for messages
    source: str = Field("built-in defaults", exclude=True)
    #: "section.key" -> where its value came from ("state.database in /etc/feeds/feeds.toml", "FEEDS_STATE_DATABASE")
    origins: dict[str, str] = Field(default_factory=dict, exclude=True)

    def origin(self, section: str, key: str) -> str:
        """Where the value of ``section.key`` came from, for messages."""
        return self.origins.get(f"{section}.{key}", f"the built-in default of {section}.{key}")


def compose(name: str, sections: dict[str, Any]) -> type[SettingsBase]:
    """A settings model with one field per section: a ``Section`` class, or ``dict[int, Section]`` for tables
    by id such as ``[organisations.7]``."""
    fields: dict[str, Any] = {}
    for key, kind in sections.items():
        fields[key] = (kind, {} if get_origin(kind) is dict else kind())
    return create_model(name, __base__=SettingsBase, **fields)  # type: ignore[call-overload, no-any-return]


def sections_of(model: type[SettingsBase]) -> dict[str, type[Section]]:
    """The plain sections of a settings model, by name."""
    return {name: field.annotation for name, field in model.model_fields.items()  # type: ignore[misc]
            if name not in SettingsBase.model_fields and get_origin(field.annotation) is not dict}


def tables_of(model: type[SettingsBase]) -> dict[str, type[Section]]:
    """The sections that come as tables by id (``[organisations.<id>]``), by name."""
    return {name: get_args(field.annotation)[1] for name, field in model.model_fields.items()
            if name not in SettingsBase.model_fields and get_origin(field.annotation) is dict}


def expand_path(path: str) -> Path:
    return Path(os.path.expanduser(path)).absolute()


def choose_file(option: str | None, environ: dict[str, str] | None = None) -> Path | None:
    """The settings file to read: ``--config``, ``$FEEDS_CONFIG``, ``./feeds.toml``."""
    environ = os.environ if environ is None else environ
    if option:
        return Path(option)
    if environ.get("FEEDS_CONFIG"):
        return Path(environ["FEEDS_CONFIG"])
    local = Path("feeds.toml")
    return local if local.is_file() else None


def no_file_message() -> str:
    return (f"no settings file: --config is not given, FEEDS_CONFIG is not set and there is no feeds.toml in "
            f"{Path.cwd()}; give the settings file with --config FILE (the example settings file "
            "feeds.example.toml shows every key)")


def load(model: type[S], option: str | None = None, environ: dict[str, str] | None = None,
         required: bool = False) -> S:
    """Read the settings file and the environment into ``model``; raise SettingsError naming the key.

    ``required``: no settings file found is an error (before anything is asked of Hub or the ledger)."""
    environ = dict(os.environ if environ is None else environ)
    sections, tables = sections_of(model), tables_of(model)
    path = choose_file(option, environ)
    if path is None and required:
        raise SettingsError(no_file_message())
    data: dict[str, Any] = {}
    source = "built-in defaults"
    if path is not None:
        data = _read_toml(path)
        source = str(path)
    by_id = {name: _tables(name, tables[name], data.pop(name, {}), source) for name in tables}
    _check_shape(data, sections, tables, source)
    if path is not None:
        folder = path.absolute().parent
        for section, values in data.items():
            _resolve_paths(values, sections[section], folder)
        for table, entries in by_id.items():
            for values in entries.values():
                _resolve_paths(values, tables[table], folder)
    origins: dict[tuple[str, str], str] = {
        (section, key): f"{section}.{key} in {source}" for section, values in data.items() for key in values
    }
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_SETTINGS:
            continue
        table = next((t for t in tables if name.startswith(f"{ENV_PREFIX}{t.upper()}_")), None)
        if table is not None:
            number, key = _env_table_key(name, table, tables[table])
            by_id[table].setdefault(number, {})[key] = _resolved(value, tables[table], key, Path.cwd())
            origins[(f"{table}.{number}", key)] = name
            continue
        section, key = _env_key(name, sections)
        data.setdefault(section, {})[key] = _resolved(_from_env(name, value, sections[section], key),
                                                      sections[section], key, Path.cwd())
        origins[(section, key)] = name
    for table, entries in by_id.items():
        checked: dict[int, Section] = {}
        for number, values in sorted(entries.items()):
            here = f"{table}.{number}"
            origins.update({(here, key): f"{here}.{key} in {source}" for key in values if (here, key) not in origins})
            try:
                checked[number] = tables[table].model_validate(values)
            except ValidationError as exc:
                raise SettingsError(_explain(exc, origins, tables[table], prefix=(here,))) from None
        data[table] = checked
    told = {".".join(where): said for where, said in origins.items()}
    try:
        settings = model.model_validate({**data, "source": source, "origins": told})
    except ValidationError as exc:
        raise SettingsError(_explain(exc, origins, model)) from None
    for section in _every_section(settings):
        for notice in section.notices():
            log.warning("%s", notice)
        redact.register(*(value for value in dict(section).values() if isinstance(value, SecretStr)))
    return settings


def _every_section(settings: SettingsBase) -> list[Section]:
    found: list[Section] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, Section):
            found.append(value)
        elif isinstance(value, dict):
            found.extend(v for v in value.values() if isinstance(v, Section))
    return found


def is_path(section: type[Section], key: str) -> bool:
    """Whether ``section.key`` is a ``LocalPath``: a file or folder on this machine."""
    field = section.model_fields.get(key)
    return field is not None and any(item is PATH for item in field.metadata)


def _resolved(value: Any, section: type[Section], key: str, folder: Path) -> Any:
    """``value`` as given, or, for a relative path setting, taken from ``folder``.

    ``~`` stays for the section to expand (the home of whoever runs feeds); a URL (``://``) is not a path."""
    if not (isinstance(value, str) and value and is_path(section, key)):
        return value
    if "://" in value or value.startswith("~") or Path(value).is_absolute():
        return value
    return os.path.normpath(folder / value)  # "../state" shown as the folder it is


def _resolve_paths(values: dict[str, Any], section: type[Section], folder: Path) -> None:
    for key, value in values.items():
        values[key] = _resolved(value, section, key, folder)


def _tables(name: str, kind: type[Section], tables: Any, source: str) -> dict[int, dict[str, Any]]:
    """``[<name>.<id>]`` tables, by id."""
    keys = ", ".join(kind.model_fields)
    if not isinstance(tables, dict):
        raise SettingsError(f"{name} in {source} must be tables such as [{name}.7], not a single value")
    found: dict[int, dict[str, Any]] = {}
    for key, values in tables.items():
        if not (key.isascii() and key.isdigit() and int(key) > 0):
            raise SettingsError(f"[{name}.{key}] in {source} does not name an organisation; "
                                f"use the organisation's id, such as [{name}.7]")
        if not isinstance(values, dict):
            raise SettingsError(f"{name}.{key} in {source} must be a table ([{name}.{key}]) with {keys}")
        for field in values:
            if field not in kind.model_fields:
                raise SettingsError(f"unknown setting {name}.{key}.{field} in {source}; [{name}.<id>] takes {keys}")
        found[int(key)] = dict(values)
    return found


def _env_table_key(name: str, table: str, kind: type[Section]) -> tuple[int, str]:
    rest = name[len(f"{ENV_PREFIX}{table.upper()}_"):]
    number, _, key = rest.partition("_")
    key = key.lower()
    if not (number.isdigit() and int(number) > 0 and key in kind.model_fields):
        spelt = " and ".join(f"{ENV_PREFIX}{table.upper()}_<ID>_{k.upper()}" for k in kind.model_fields)
        raise SettingsError(f"unknown setting in environment variable {name}; these tables' variables are {spelt}")
    return int(number), key


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SettingsError(f"settings file {path} does not exist; give an existing file to --config or FEEDS_CONFIG") from None
    except OSError as exc:
        raise SettingsError(f"settings file {path} cannot be read: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise SettingsError(f"settings file {path} is not UTF-8 text; save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from None


def _check_shape(data: dict[str, Any], sections: dict[str, type[Section]], tables: dict[str, type[Section]],
                 source: str) -> None:
    for section, values in data.items():
        if section not in sections:
            raise SettingsError(
                f"unknown settings section [{section}] in {source}; the sections are "
                + ", ".join([f"[{s}]" for s in sections] + [f"[{t}.<id>]" for t in tables])
            )
        if not isinstance(values, dict):
            raise SettingsError(f"{section} in {source} must be a table ([{section}]), not a single value")
        known = sections[section].model_fields
        for key in values:
            if key not in known:
                raise SettingsError(f"unknown setting {section}.{key} in {source}; [{section}] takes " + ", ".join(known))


def _env_key(name: str, sections: dict[str, type[Section]]) -> tuple[str, str]:
    rest = name[len(ENV_PREFIX):].lower()
    for section in sections:
        if rest.startswith(section + "_"):
            key = rest[len(section) + 1:]
            if key in sections[section].model_fields:
                return section, key
    raise SettingsError(
        f"unknown setting in environment variable {name}; settings variables are "
        "FEEDS_<SECTION>_<KEY>, e.g. FEEDS_HUB_CLIENT_SECRET"
    )


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _from_env(name: str, value: str, section: type[Section], key: str) -> Any:
    """Turn an environment string into the type of the setting it overrides."""
    annotation = section.model_fields[key].annotation
    text = value.strip()
    if annotation is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise SettingsError(f"{name} must be true or false, not {value!r}")
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, not {value!r}") from None
    if annotation is float:
        try:
            return float(text)
        except ValueError:
            raise SettingsError(f"{name} must be a number, not {value!r}") from None
    if annotation == list[str]:
        return [part.strip() for part in text.split(",") if part.strip()]  # FEEDS_X=a,b
    return value


_TYPE_WORDS = {
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string in quotes",
}


def _is_secret(model: type[Section], loc: tuple[str, ...]) -> bool:
    """Whether the setting at ``loc`` (section and key, or key alone) is a secret: never shown."""
    kind: Any = model
    for part in loc:
        fields = getattr(kind, "model_fields", None)
        if not fields or part not in fields:
            return False
        kind = fields[part].annotation
    return kind is SecretStr


def _explain(exc: ValidationError, origins: dict[tuple[str, str], str], model: type[Section],
             prefix: tuple[str, ...] = ()) -> str:
    error = exc.errors()[0]
    own = tuple(str(part) for part in error["loc"])
    loc = prefix + own
    where = origins.get(loc[:2]) if len(loc) >= 2 else None
    where = where or ".".join(loc)
    shown = "" if _is_secret(model, own) else f", not {error.get('input')!r}"
    kind = error["type"]
    if kind in _TYPE_WORDS:
        return f"setting {where} must be {_TYPE_WORDS[kind]}{shown}"
    if kind == "literal_error":
        return f"setting {where} must be {error['ctx']['expected']}{shown}"
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        return f"setting {where} is out of range: {error['msg'].lower().replace('input should be', 'it must be')}{shown}"
    return f"setting {where}: {error['msg']}"


def read_env_file(path: str) -> dict[str, str]:
    """The ``FEEDS_*`` variables of a file of ``KEY=VALUE`` lines (blank lines and ``#`` comments allowed).

    The format is what systemd's ``EnvironmentFile`` and ``set -a; . FILE`` both read: one pair of quotes
    around a value is removed, nothing else is interpreted. A line is never shown in an error, since the
    values are secrets; the error names the line by its number."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"environment file {path} does not exist; give an existing file to --env-file") from None
    except UnicodeDecodeError:
        raise SettingsError(f"environment file {path} is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise SettingsError(f"environment file {path} cannot be read: {exc.strerror}") from None
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals or not _ENV_NAME.fullmatch(name):
            raise SettingsError(f"line {number} of environment file {path} is not NAME=value; write one "
                                "FEEDS_<SECTION>_<KEY>=value per line (blank lines and # comments are allowed)")
        if not name.startswith(ENV_PREFIX):
            raise SettingsError(f"line {number} of environment file {path} sets {name}, which is not a FEEDS_* "
                                "variable; the file holds feeds settings only, such as FEEDS_HUB_CLIENT_SECRET")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        found[name] = value
    return found
