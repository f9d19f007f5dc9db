"""The SDK suite runs against every transport: the embedded API on SQLite, and the SDK over
HTTP to a uvicorn server backed by DynamoDB (moto's server, or `AWS_ENDPOINT_URL`).
Choose with MINTAKA_TEST_SDK_TRANSPORT=embedded|http-dynamodb|all (default: all)."""

from support.sdk_transports import client, history, pytest_generate_tests  # noqa: F401
