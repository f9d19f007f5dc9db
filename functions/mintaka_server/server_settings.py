"""The server's settings are the one `mintaka.settings.Settings`: its server fields (`store`,
`table_prefix`, the cloud path's Scheduler group, SQS work queues and Fargate task, what the API
accepts) come from `MINTAKA_*` variables (plus the standard `AWS_*` ones), never from a profile.
The names here are the server code's words for that class and its cached instance."""

from __future__ import annotations

from mintaka.settings import SERVER_FIELDS, TABLE_BASE_NAME, Settings, get_settings, reset_settings

ServerSettings = Settings
get_server_settings = get_settings
reset_server_settings = reset_settings

__all__ = [
    "SERVER_FIELDS",
    "TABLE_BASE_NAME",
    "ServerSettings",
    "get_server_settings",
    "reset_server_settings",
]
