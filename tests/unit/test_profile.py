"""The profile in $MINTAKA_HOME/config.json: Settings read it below the environment."""

from __future__ import annotations

import json
import os
import stat

import pytest

from mintaka.exceptions import InvalidRequest
from mintaka.profile import masked, profile_path, read_profile, setting_name, write_profile
from mintaka.settings import Settings


@pytest.fixture
def home(tmp_path, monkeypatch):
    for key in [k for k in os.environ if k.startswith("MINTAKA_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MINTAKA_HOME", str(tmp_path))
    return tmp_path


def test_settings_read_the_profile_and_the_environment_wins(home, monkeypatch):
    assert Settings().api_url is None
    path = write_profile({"api_url": "https://api.example/api", "api_key": "mk_abc_s", "api_timeout": "5"})
    assert path == home / "config.json" == profile_path()
    settings = Settings()
    assert (settings.api_url, settings.api_key, settings.api_timeout) == ("https://api.example/api", "mk_abc_s", 5.0)
    monkeypatch.setenv("MINTAKA_API_URL", "http://127.0.0.1:4200/api")
    assert Settings().api_url == "http://127.0.0.1:4200/api"
    monkeypatch.setenv("MINTAKA_API_URL", "")  # an empty variable switches a profile URL off
    assert not Settings().api_url
    assert Settings(api_key="explicit").api_key == "explicit"


def test_the_profile_is_the_one_in_the_home_settings_use(home, tmp_path):
    other = tmp_path / "other"
    write_profile({"api_url": "https://other/api"}, profile_path(other))
    assert Settings().api_url is None
    assert Settings(home=other).api_url == "https://other/api"


def test_home_and_unknown_names_in_the_profile_are_ignored(home):
    (home / "config.json").write_text(json.dumps({"home": "/elsewhere", "colour": "blue", "api_key": None}))
    settings = Settings()
    assert settings.home == home and settings.api_key is None


def test_a_broken_profile_is_a_clear_error(home):
    (home / "config.json").write_text("{not json")
    with pytest.raises(InvalidRequest, match=r"config\.json"):
        read_profile()
    (home / "config.json").write_text("[1]")
    with pytest.raises(InvalidRequest, match="JSON object"):
        read_profile()


def test_the_profile_is_written_owner_only(home):
    path = write_profile({"api_key": "mk_abc_secret"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_profile() == {"api_key": "mk_abc_secret"}
    assert not list(home.glob("*.tmp"))


@pytest.mark.parametrize("key", ["api_key", "API_KEY", "api-key", "MINTAKA_API_KEY", " mintaka_api_key "])
def test_setting_names_accept_the_variable_spelling(key):
    assert setting_name(key) == "api_key"


@pytest.mark.parametrize("key", ["home", "MINTAKA_HOME", "nope", ""])
def test_setting_names_refuse_unknown_keys_and_home(key):
    with pytest.raises(InvalidRequest, match="api_url"):
        setting_name(key)


def test_secrets_are_masked():
    assert masked("api_key", "mk_1a2b3c4d5e6f_SECRET") == "mk_1a2b3c4d5e6f_…"
    assert masked("api_key", "other-token") == "…"
    assert masked("api_url", "https://x/api") == "https://x/api"
