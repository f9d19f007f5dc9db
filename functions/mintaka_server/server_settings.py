"""The server's settings, read in one place: `MINTAKA_*` variables (plus the standard `AWS_*` ones).

The SDK's `mintaka.settings.Settings` covers what clients and the embedded store need
(`MINTAKA_HOME`, `MINTAKA_DATABASE`, ...); this class adds only what the server deployment
chooses: which store adapter, where its table lives, and the results bucket. Read once per
process (`get_server_settings()` is cached; `reset_server_settings()` forgets it for tests).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

TABLE_BASE_NAME = "mintaka"


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINTAKA_", extra="ignore", populate_by_name=True)

    store: Literal["sqlite", "dynamodb"] = Field(
        "sqlite", description="Store adapter: the embedded SQLite file, or DynamoDB"
    )
    table_prefix: str = Field("", max_length=200, description="Prefix of the DynamoDB table name, e.g. `prod-`")
    aws_endpoint_url: str | None = Field(
        None,
        validation_alias=AliasChoices("MINTAKA_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
        description="AWS endpoint override (moto, LocalStack); unset = the real AWS endpoints",
    )
    aws_region: str = Field(
        "us-east-1",
        validation_alias=AliasChoices("MINTAKA_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    results_bucket: str | None = Field(None, description="S3 bucket for flow results (set by the deployment)")

    @property
    def table_name(self) -> str:
        """The one DynamoDB table: `{table_prefix}mintaka` (the SAM template names it the same way)."""
        return f"{self.table_prefix}{TABLE_BASE_NAME}"


@lru_cache(maxsize=1)
def get_server_settings() -> ServerSettings:
    return ServerSettings()


def reset_server_settings() -> None:
    """Forget the cached settings (after the environment changed, e.g. between tests)."""
    get_server_settings.cache_clear()
