"""The index of event triggers: which deployments may have a trigger matching an event, by the
event's `source`, so an event reads its candidates (two queries) instead of every deployment.

An entry is a document of kind `trigger_index:<source>` keyed by the deployment's name; a trigger
whose pattern names no plain source (or sources that are not strings) is listed under `*` and is
a candidate for every event. Entries only narrow the search: the deployment's own triggers, read
with it, decide, so an entry left behind by a change that failed halfway matches nothing. A store
written before the index existed gets it built on first use (marked by a server setting)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mintaka_core.deployment_schemas import Deployment
from mintaka_server.storage import DocumentStore

KIND = "trigger_index"
ANY_SOURCE = "*"
BUILT_SETTING = "trigger_index"


def trigger_sources(deployment: Deployment | None) -> set[str]:
    """The sources under which `deployment`'s triggers are listed."""
    sources: set[str] = set()
    for trigger in deployment.triggers if deployment is not None else ():
        wanted = trigger.match.get("source")
        if isinstance(wanted, str):
            sources.add(wanted)
        elif isinstance(wanted, list) and wanted and all(isinstance(value, str) for value in wanted):
            sources.update(wanted)
        else:
            sources.add(ANY_SOURCE)
    return sources


def _kind(source: str) -> str:
    return f"{KIND}:{source}"


class TriggerIndex:
    def __init__(self, store: DocumentStore):
        self.store = store
        self._built = False  # this process has seen the index built

    def update(self, full_name: str, old: Deployment | None, new: Deployment | None) -> None:
        """List `new`'s triggers (None: deleted) and unlist what only `old` had."""
        before, after = trigger_sources(old), trigger_sources(new)
        for source in after:
            self.store.put_document(_kind(source), full_name, {"deployment": full_name})
        for source in before - after:
            self.store.delete_document(_kind(source), full_name)

    def candidates(self, source: str, deployments: Callable[[], Iterable[Deployment]]) -> list[str]:
        """Names of the deployments that may match an event from `source`, in name order.
        `deployments` lists them all, for building the index once on a store that lacks it."""
        self._ensure_built(deployments)
        names = {doc["deployment"] for doc in self.store.list_documents(_kind(source))}
        if source != ANY_SOURCE:
            names |= {doc["deployment"] for doc in self.store.list_documents(_kind(ANY_SOURCE))}
        return sorted(names)

    def _ensure_built(self, deployments: Callable[[], Iterable[Deployment]]) -> None:
        if self._built:
            return
        if self.store.read_setting(BUILT_SETTING) is None:
            for deployment in deployments():
                self.update(deployment.full_name, None, deployment)
            self.store.write_setting(BUILT_SETTING, {"built": True})
        self._built = True
