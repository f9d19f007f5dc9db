"""DynamoDB storage of what schedulers coordinate through, mixed into `DynamoDBStore`:
versioned documents (schedule cursors, leader leases), each write one PutItem conditional on
the version the writer read."""

from __future__ import annotations

import json

from mintaka.exceptions import Conflict

from . import _keys as keys
from ._errors import call


class DynamoDBScheduling:
    """Needs the host's `_model`."""

    def swap_document(self, kind: str, key: str, doc: dict, expected_version: int | None) -> bool:
        model = self._model
        version = (expected_version or 0) + 1
        text = json.dumps({**doc, "version": version}, default=str)
        item = model(keys.documents_of(kind), keys.document_sk(key), doc=text, version=version)
        condition = model.pk.does_not_exist() if expected_version is None else model.version == expected_version
        try:
            call(lambda: item.save(condition=condition), "swap document")
        except Conflict:  # another writer got there first
            return False
        return True
