"""Settings, read in one place: environment variables `MINTAKA_*` (then defaults)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    @property
    def home_path(self) -> Path:
        return self.home.expanduser()

    @property
    def database_path(self) -> Path:
        return (self.database or self.home_path / "mintaka.db").expanduser()

    @property
    def results_path(self) -> Path:
        return (self.results_dir or self.home_path / "results").expanduser()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (after the environment changed, e.g. in the test harness)."""
    get_settings.cache_clear()
