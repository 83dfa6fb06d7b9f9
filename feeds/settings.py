"""Settings: a TOML file, overridden key by key by FEEDS_<SECTION>_<KEY>.

The file is chosen by ``--config``, else ``$FEEDS_CONFIG``, else
``./feeds.toml`` when it exists, else the built-in defaults are used. Unknown
keys and wrong types are errors that name the key (exit status 2), because a
misspelt setting that is silently ignored is worse than one that stops.
Relative paths are taken from the current directory, like any command line
tool's.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tomllib
from urllib.parse import urlsplit
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, create_model, field_validator

from . import redact
from .alerts import AlertsSettings
from .changes import GuardSettings
from .deliver import settings_sections
from .egress import parse_networks
from .errors import SettingsError
from .sections import Section
from .web import WebSettings

log = logging.getLogger("feeds.settings")

ENV_PREFIX = "FEEDS_"
#: FEEDS_* variables that are not settings keys.
ENV_NOT_SETTINGS = {"FEEDS_CONFIG", "FEEDS_FAILPOINT"}
SANDBOX = "sandbox"
#: Hub's token endpoint under the base URL (SPEC §1: Nuvias UC's sample client posts there)
TOKEN_PATH = "/oauth/create_token"


class HubSettings(Section):
    base_url: str = "https://hub.nuvias-uc.com/api/v1"
    token_url: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    per_page: int = Field(1000, ge=1, le=1000)
    timeout: float = Field(30.0, gt=0)
    attempts: int = Field(5, ge=1, le=20)
    concurrency: int = Field(4, ge=1, le=32)

    @property
    def is_sandbox(self) -> bool:
        return self.base_url.strip().lower() == SANDBOX

    @property
    def effective_token_url(self) -> str:
        return self.token_url or self.base_url.rstrip("/") + TOKEN_PATH


class DeliverySettings(Section):
    outbox: str = ""
    attempts: int = Field(3, ge=1, le=20)
    timeout: float = Field(60.0, gt=0)
    retry_wait: float = Field(5.0, ge=0)
    #: CIDRs exempt from the egress rule (SPEC §11)
    allow_networks: list[str] = []
    #: no run lasts longer, whatever a server does (SPEC §11); fractions allowed
    run_deadline_minutes: float = Field(20.0, gt=0, le=1440)

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)
        return value

    @property
    def allowed_networks(self) -> tuple[Any, ...]:
        return parse_networks(self.allow_networks)


class ScheduleSettings(Section):
    max_parallel: int = Field(4, ge=1, le=256)
    #: one organisation's feeds never hold more workers at once (SPEC §11)
    max_parallel_per_organisation: int = Field(2, ge=1, le=256)
    lease_minutes: int = Field(25, ge=1, le=1440)
    shutdown_grace: float = Field(60.0, ge=0)


class StateSettings(Section):
    database: str = "~/.local/state/feeds/feeds.db"
    archive_keep: int = Field(7, ge=0, le=1000)
    archive_dir: str = ""


class OrganisationCredentials(Section):
    """``[organisations.<id>]``: the Hub API client of organisation ``<id>`` (SPEC §10)."""

    client_id: str = ""
    client_secret: SecretStr = SecretStr("")


class SettingsBase(Section):
    """The settings of the whole product; the delivery methods add their own sections."""

    hub: HubSettings = HubSettings()
    #: organisation id -> its own credentials; [hub] holds the default ones
    organisations: dict[int, OrganisationCredentials] = {}
    #: where the settings came from, for messages
    source: str = Field("built-in defaults", exclude=True)

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the ledger: a SQLite file unless a URL is given."""
        db = self.state.database
        if "://" in db:
            return db
        return "sqlite:///" + str(expand_path(db))

    @property
    def archive_path(self) -> Path:
        if self.state.archive_dir:
            return expand_path(self.state.archive_dir)
        if "://" in self.state.database:
            return expand_path("~/.local/state/feeds/archive")
        return expand_path(self.state.database).parent / "archive"

    @property
    def outbox_path(self) -> Path | None:
        return expand_path(self.delivery.outbox) if self.delivery.outbox else None


_CORE_SECTIONS: dict[str, type[Section]] = {
    "delivery": DeliverySettings,
    "schedule": ScheduleSettings,
    "guard": GuardSettings,
    "alerts": AlertsSettings,
    "web": WebSettings,
    "state": StateSettings,
}

Settings = create_model(  # type: ignore[call-overload]
    "Settings",
    __base__=SettingsBase,
    **{name: (section, section()) for name, section in {**settings_sections(), **_CORE_SECTIONS}.items()},
)

SECTIONS: dict[str, type[Section]] = {
    name: field.annotation  # type: ignore[misc]
    for name, field in Settings.model_fields.items()
    if name not in ("source", "organisations")
}
ORGANISATIONS = "organisations"


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


def load(option: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the settings file and the environment; raise SettingsError naming the key."""
    environ = dict(os.environ if environ is None else environ)
    path = choose_file(option, environ)
    data: dict[str, Any] = {}
    source = "built-in defaults"
    if path is not None:
        data = _read_toml(path)
        source = str(path)
    organisations = _organisation_tables(data.pop(ORGANISATIONS, {}), source)
    _check_shape(data, source)
    origins: dict[tuple[str, str], str] = {
        (section, key): f"{section}.{key} in {source}"
        for section, values in data.items()
        for key in values
    }
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_SETTINGS:
            continue
        if name.startswith(f"{ENV_PREFIX}{ORGANISATIONS.upper()}_"):
            organisation, key = _env_organisation_key(name)
            organisations.setdefault(organisation, {})[key] = value
            origins[(f"{ORGANISATIONS}.{organisation}", key)] = name
            continue
        section, key = _env_key(name)
        data.setdefault(section, {})[key] = _from_env(name, value, SECTIONS[section], key)
        origins[(section, key)] = name
    credentials: dict[int, OrganisationCredentials] = {}
    for organisation, values in sorted(organisations.items()):
        table = f"{ORGANISATIONS}.{organisation}"
        origins.update({(table, key): f"{table}.{key} in {source}" for key in values if (table, key) not in origins})
        try:
            credentials[organisation] = OrganisationCredentials.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(_explain(exc, origins, prefix=(table,))) from None
    try:
        settings = Settings.model_validate({**data, ORGANISATIONS: credentials, "source": source})
    except ValidationError as exc:
        raise SettingsError(_explain(exc, origins)) from None
    _warn_about_plain_text(settings)
    redact.register(
        settings.hub.client_secret,
        settings.smtp.password,
        settings.sitc.password,
        *(table.client_secret for table in settings.organisations.values()),
        settings.web.token,
    )
    return settings


def _warn_about_plain_text(settings: Any) -> None:
    """Secrets that would cross the network unencrypted (SPEC §11): said at start, not refused."""
    hub = settings.hub
    url = urlsplit(hub.base_url.strip())
    if not hub.is_sandbox and url.scheme == "http" and not _loopback(url.hostname or ""):
        log.warning("hub.base_url is plain http (%s): the client secret and every answer cross the network "
                    "unencrypted; use https", hub.base_url)
    smtp = settings.smtp
    if smtp.security == "none" and smtp.username:
        log.warning("smtp.security is \"none\" with smtp.username set: the SMTP password crosses the network "
                    "unencrypted; use starttls or ssl")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _organisation_tables(tables: Any, source: str) -> dict[int, dict[str, Any]]:
    """``[organisations.<id>]`` tables, by organisation id."""
    if not isinstance(tables, dict):
        raise SettingsError(f"{ORGANISATIONS} in {source} must be tables such as [organisations.7], not a single value")
    found: dict[int, dict[str, Any]] = {}
    for key, values in tables.items():
        if not (key.isascii() and key.isdigit() and int(key) > 0):
            raise SettingsError(f"[organisations.{key}] in {source} does not name an organisation; "
                                "use the organisation's id, such as [organisations.7]")
        if not isinstance(values, dict):
            raise SettingsError(f"organisations.{key} in {source} must be a table ([organisations.{key}]) "
                                "with client_id and client_secret")
        for name in values:
            if name not in OrganisationCredentials.model_fields:
                raise SettingsError(f"unknown setting organisations.{key}.{name} in {source}; "
                                    "[organisations.<id>] takes client_id, client_secret")
        found[int(key)] = dict(values)
    return found


def _env_organisation_key(name: str) -> tuple[int, str]:
    rest = name[len(f"{ENV_PREFIX}{ORGANISATIONS.upper()}_"):]
    number, _, key = rest.partition("_")
    key = key.lower()
    if not (number.isdigit() and int(number) > 0 and key in OrganisationCredentials.model_fields):
        raise SettingsError(f"unknown setting in environment variable {name}; organisation credentials are "
                            "FEEDS_ORGANISATIONS_<ID>_CLIENT_ID and FEEDS_ORGANISATIONS_<ID>_CLIENT_SECRET")
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


def _check_shape(data: dict[str, Any], source: str) -> None:
    for section, values in data.items():
        if section not in SECTIONS:
            raise SettingsError(
                f"unknown settings section [{section}] in {source}; the sections are "
                + ", ".join(f"[{s}]" for s in SECTIONS)
            )
        if not isinstance(values, dict):
            raise SettingsError(f"{section} in {source} must be a table ([{section}]), not a single value")
        known = SECTIONS[section].model_fields
        for key in values:
            if key not in known:
                raise SettingsError(
                    f"unknown setting {section}.{key} in {source}; [{section}] takes "
                    + ", ".join(known)
                )


def _env_key(name: str) -> tuple[str, str]:
    rest = name[len(ENV_PREFIX):].lower()
    for section in SECTIONS:
        if rest.startswith(section + "_"):
            key = rest[len(section) + 1:]
            if key in SECTIONS[section].model_fields:
                return section, key
    raise SettingsError(
        f"unknown setting in environment variable {name}; settings variables are "
        "FEEDS_<SECTION>_<KEY>, e.g. FEEDS_HUB_CLIENT_SECRET"
    )


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


def _explain(exc: ValidationError, origins: dict[tuple[str, str], str], prefix: tuple[str, ...] = ()) -> str:
    error = exc.errors()[0]
    loc = prefix + tuple(str(part) for part in error["loc"])
    where = origins.get(loc[:2]) if len(loc) >= 2 else None
    where = where or ".".join(loc)
    secret = loc[-1] in {"password", "client_secret"}
    shown = "" if secret else f", not {error.get('input')!r}"
    kind = error["type"]
    if kind in _TYPE_WORDS:
        return f"setting {where} must be {_TYPE_WORDS[kind]}{shown}"
    if kind == "literal_error":
        return f"setting {where} must be {error['ctx']['expected']}{shown}"
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        return f"setting {where} is out of range: {error['msg'].lower().replace('input should be', 'it must be')}{shown}"
    return f"setting {where}: {error['msg']}"
