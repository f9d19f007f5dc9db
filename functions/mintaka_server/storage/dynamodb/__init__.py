"""DynamoDB adapter of the store port (single table, pynamodb). Table design: README.md."""

from .store import DynamoDBStore

__all__ = ["DynamoDBStore"]
