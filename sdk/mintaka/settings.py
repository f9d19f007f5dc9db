"""Settings, read in one place: environment variables `MINTAKA_*`, then the profile
(`$MINTAKA_HOME/config.json`, written by `mintaka config set`), then defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINTAKA_", extra="ignore")

    home: Path = Field(Path("~/.mintaka"), description="Where the embedded store and results live")
    api_url: str | None = Field(None, description="Orchestration API; unset = embedded in-process API")
    api_key: str | None = None
    database: Path | None = Field(None, description="Embedded SQLite file; default $MINTAKA_HOME/mintaka.db")
    results_dir: Path | None = Field(None, description="Local result store; default $MINTAKA_HOME/results")
    logging_level: str = "INFO"
    log_batch_interval: float = Field(0.5, gt=0, description="Seconds between log shipments")
    api_timeout: float = Field(30.0, gt=0)
    api_outage_tolerance: float = Field(
        300.0,
        ge=0,
        le=7 * 24 * 3600,
        description="Seconds the SDK, workers and executors keep retrying an unreachable API before a run ends CRASHED",
    )
    log_spool_dir: Path | None = Field(
        None,
        description="Where log records the API could not take yet wait (default: the user's cache"
        " dir, ~/.cache/mintaka/log-spool); the next Mintaka process delivers them",
    )
    heartbeat_interval: float = Field(
        10.0,
        gt=0,
        le=86_400,
        description="Seconds between a running flow run's heartbeats: silent for three of them, it is taken for"
        " lost (its slots go to others, the reaper ends it); also how soon a cancel takes effect",
    )
    api_auth: bool | None = Field(
        None,
        description="Servers: require API keys. Unset = off for `mintaka server start` on loopback"
        " and for the embedded API, on for Lambda and for a server on any other interface",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, ProfileSource(settings_cls), dotenv_settings, file_secret_settings

    @property
    def home_path(self) -> Path:
        return self.home.expanduser()

    @property
    def database_path(self) -> Path:
        return (self.database or self.home_path / "mintaka.db").expanduser()

    @property
    def results_path(self) -> Path:
        return (self.results_dir or self.home_path / "results").expanduser()

    @property
    def log_spool_path(self) -> Path:
        if self.log_spool_dir is not None:
            return self.log_spool_dir.expanduser()
        import os

        cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
        return Path(cache).expanduser() / "mintaka" / "log-spool"


class ProfileSource(PydanticBaseSettingsSource):
    """The profile in the MINTAKA_HOME the sources before it chose (or the default home)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        from mintaka.profile import NOT_IN_PROFILE, profile_path, read_profile

        values = read_profile(profile_path(self.current_state.get("home")))
        return {k: v for k, v in values.items() if k in self.settings_cls.model_fields and k not in NOT_IN_PROFILE}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (after the environment changed, e.g. in the test harness)."""
    get_settings.cache_clear()
