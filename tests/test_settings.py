"""Settings: TOML, environment overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeds import wiring
from feeds.errors import SettingsError
from feeds.settings import read_env_file

from conftest import SAMPLES


def load(tmp_path: Path, text: str | None = None, env: dict[str, str] | None = None):
    path = None
    if text is not None:
        path = tmp_path / "feeds.toml"
        path.write_text(text, encoding="utf-8")
    return wiring.load_settings(str(path) if path else None, env or {})


def test_defaults_are_the_spec_defaults(tmp_path):
    s = load(tmp_path)
    assert s.hub.base_url == "https://hub.nuvias-uc.com/api/v1"
    assert s.hub.effective_token_url == "https://hub.nuvias-uc.com/api/v1/oauth/create_token"
    assert s.hub.per_page == 1000 and s.hub.timeout == 30
    assert s.smtp.port == 587 and s.smtp.security == "starttls" and s.smtp.max_attachment_mb == 10
    assert s.sitc.protocol == "SFTP" and s.sitc.port == 22 and s.sitc.directory == "/"
    assert s.sftp.host_key_policy == "tofu"
    assert s.ftps.verify is True
    assert s.delivery.outbox == "" and s.delivery.attempts == 3
    assert s.schedule.max_parallel == 4 and s.schedule.lease_minutes == 25
    assert s.state.archive_keep == 7
    assert s.state.database_url.startswith("sqlite:///") and s.state.database_url.endswith("feeds.db")


def test_file_values_are_typed(tmp_path):
    s = load(tmp_path, '[hub]\nbase_url = "https://hub.test/api/v1"\nper_page = 250\n[smtp]\nport = 465\nsecurity = "ssl"\n')
    assert s.hub.per_page == 250 and s.smtp.port == 465 and s.smtp.security == "ssl"


def test_environment_wins_over_the_file(tmp_path):
    s = load(
        tmp_path,
        '[hub]\nclient_secret = "from-file"\nper_page = 100\n',
        {"FEEDS_HUB_CLIENT_SECRET": "from-env", "FEEDS_HUB_PER_PAGE": "500", "FEEDS_FTPS_VERIFY": "false"},
    )
    assert s.hub.client_secret.get_secret_value() == "from-env"
    assert s.hub.per_page == 500
    assert s.ftps.verify is False


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[hub]\nclinet_id = 'x'\n", "unknown setting hub.clinet_id"),
        ("[hubb]\nclient_id = 'x'\n", "unknown settings section [hubb]"),
        ("[smtp]\nport = 'abc'\n", "setting smtp.port in"),
        ("[smtp]\nport = 70000\n", "smtp.port"),
        ("[smtp]\nsecurity = 'tls'\n", "smtp.security"),
        ("[hub]\nper_page = 5000\n", "hub.per_page"),
        ("hub = 3\n", "must be a table"),
        ("[hub\n", "not valid TOML"),
    ],
)
def test_bad_files_name_the_key(tmp_path, text, expected):
    with pytest.raises(SettingsError) as info:
        load(tmp_path, text)
    assert expected in str(info.value)
    assert info.value.exit_code == 2


def test_wrong_type_message_says_what_is_right(tmp_path):
    with pytest.raises(SettingsError, match=r"smtp\.port .*must be a whole number, not 'abc'"):
        load(tmp_path, "[smtp]\nport = 'abc'\n")


def test_a_wrong_secret_type_does_not_echo_the_value(tmp_path):
    with pytest.raises(SettingsError) as info:
        load(tmp_path, "[smtp]\npassword = 123456\n")
    assert "123456" not in str(info.value) and "smtp.password" in str(info.value)


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"FEEDS_SMTP_PORT": "abc"}, "FEEDS_SMTP_PORT must be a whole number"),
        ({"FEEDS_FTPS_VERIFY": "maybe"}, "FEEDS_FTPS_VERIFY must be true or false"),
        ({"FEEDS_HUB_SECRET": "x"}, "FEEDS_HUB_SECRET"),
        ({"FEEDS_SMTP_SECURITY": "tls"}, "FEEDS_SMTP_SECURITY"),
    ],
)
def test_bad_environment_names_the_variable(tmp_path, env, expected):
    with pytest.raises(SettingsError) as info:
        load(tmp_path, None, env)
    assert expected in str(info.value)


def test_config_file_choice(tmp_path, monkeypatch):
    (tmp_path / "feeds.toml").write_text("[hub]\nper_page = 7\n")
    other = tmp_path / "other.toml"
    other.write_text("[hub]\nper_page = 9\n")
    monkeypatch.chdir(tmp_path)
    assert wiring.load_settings(None, {}).hub.per_page == 7
    assert wiring.load_settings(None, {"FEEDS_CONFIG": str(other)}).hub.per_page == 9
    assert wiring.load_settings(str(other), {"FEEDS_CONFIG": "nope.toml"}).hub.per_page == 9


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        wiring.load_settings(str(tmp_path / "nope.toml"), {})


@pytest.mark.parametrize("name", ["sandbox.toml", "feeds.example.toml"])
def test_sample_settings_load(name):
    s = wiring.load_settings(str(SAMPLES / name), {})
    assert s.source.endswith(name)


def test_example_documents_every_key():
    text = (SAMPLES / "feeds.example.toml").read_text()
    for section, model in wiring.SECTIONS.items():
        assert f"[{section}]" in text
        for key in model.model_fields:
            assert f"\n{key} = " in text, f"{section}.{key} is not documented"


def test_relative_paths_of_a_file_are_from_its_folder(tmp_path, monkeypatch):
    """Every path setting of a settings file, relative, is taken from the file's folder, not from here."""
    folder = tmp_path / "etc"
    folder.mkdir()
    conf = folder / "feeds.toml"
    conf.write_text('[delivery]\noutbox = "out"\n[state]\ndatabase = "../var/f.db"\narchive_dir = "arch"\n'
                    '[sftp]\nknown_hosts = "keys/known_hosts"\n[ftps]\nca_file = "ca.pem"\n[smtp]\nca_file = "smtp.pem"\n'
                    '[sitc]\ndirectory = "incoming"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path / "..")
    s = wiring.load_settings(str(conf.relative_to(tmp_path.parent)), {})
    assert s.delivery.outbox_path == folder / "out"
    assert s.state.database_url == f"sqlite:///{tmp_path}/var/f.db" and s.state.where == f"{tmp_path}/var/f.db"
    assert s.state.archive_path == folder / "arch"
    assert s.sftp.known_hosts == f"{folder}/keys/known_hosts"
    assert s.ftps.ca_file == f"{folder}/ca.pem" and s.smtp.ca_file == f"{folder}/smtp.pem"
    assert s.sitc.directory == "incoming"  # a folder on SITC's server, not here
    assert s.origin("state", "database") == f"state.database in {conf.relative_to(tmp_path.parent)}"


def test_absolute_home_and_url_values_stay_as_given(tmp_path):
    s = load(tmp_path, '[state]\ndatabase = "postgresql+psycopg://feeds:pw@db/feeds"\narchive_dir = "~/arch"\n'
                       '[delivery]\noutbox = "/srv/outbox"\n[sftp]\nknown_hosts = ""\n')
    assert s.state.database == "postgresql+psycopg://feeds:pw@db/feeds"
    assert s.state.where == "postgresql+psycopg://feeds:********@db/feeds"
    assert s.state.archive_dir == "~/arch" and s.delivery.outbox == "/srv/outbox" and s.sftp.known_hosts == ""


def test_relative_paths_from_the_environment_are_from_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    conf = tmp_path / "etc" / "feeds.toml"
    conf.write_text('[state]\ndatabase = "from-file.db"\n')
    s = wiring.load_settings(str(conf), {"FEEDS_STATE_DATABASE": "st/f.db", "FEEDS_DELIVERY_OUTBOX": "out"})
    assert s.state.where == f"{here}/st/f.db" and s.delivery.outbox_path == here / "out"
    assert s.origin("state", "database") == "FEEDS_STATE_DATABASE"
    assert s.origin("state", "archive_dir") == "the built-in default of state.archive_dir"


def test_a_settings_file_can_be_required(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert wiring.load_settings(None, {}).source == "built-in defaults"
    with pytest.raises(SettingsError, match=f"no feeds.toml in {tmp_path};"):
        wiring.load_settings(None, {}, required=True)
    (tmp_path / "feeds.toml").write_text("")
    assert wiring.load_settings(None, {}, required=True).source == "feeds.toml"
    only_environment = wiring.load_settings(None, {"FEEDS_CONFIG": "/dev/null", "FEEDS_HUB_CLIENT_ID": "x",
                                                   "FEEDS_STATE_DATABASE": "f.db"}, required=True)
    assert only_environment.hub.client_id == "x" and only_environment.state.where == f"{tmp_path}/f.db"


def test_the_env_file_reader(tmp_path):
    path = tmp_path / "secrets.env"
    path.write_text('# comment\n\n  FEEDS_HUB_CLIENT_SECRET = x\n')
    with pytest.raises(SettingsError, match="line 3 of environment file"):
        read_env_file(str(path))
    path.write_text("FEEDS_A=plain value \nFEEDS_B=\"double\"\nFEEDS_C='single'\nFEEDS_D=a=b\nFEEDS_E=\n"
                    "FEEDS_F=\"unbalanced\n")
    assert read_env_file(str(path)) == {"FEEDS_A": "plain value", "FEEDS_B": "double", "FEEDS_C": "single",
                                        "FEEDS_D": "a=b", "FEEDS_E": "", "FEEDS_F": '"unbalanced'}
