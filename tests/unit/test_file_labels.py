"""A secret's or config's labels change (swarmkit's one allowed update, `docker stack deploy` sends it on
every redeploy): the store's file.update is a compare-and-set on the version read, of the named kind only,
and leaves the value as it was."""

from __future__ import annotations

from manager.store import ops
from manager.store.state import StoreState

KEY = bytes(range(32))


def test_labels_change_at_the_version_read() -> None:
    s = StoreState()
    assert s.apply(ops.cluster_init({"id": "c1", "secrets_key": KEY}))[0] == ""
    assert s.apply(ops.file_create("config", "c1", "conf", b"value", {"a": "b"}))[0] == ""
    v = s.configs["c1"].version
    assert s.apply(ops.file_update("config", "c1", v + 1, {"x": "y"}))[0] == "OutOfDate"
    assert s.apply(ops.file_update("secret", "c1", v, {"x": "y"}))[0] == "NotFound"  # not a secret
    assert s.apply(ops.file_update("config", "nope", v, {}))[0] == "NotFound"
    code, version = s.apply(ops.file_update("config", "c1", v, {"x": "y"}))
    assert code == "" and version > v
    c = s.configs["c1"]
    assert c.labels == {"x": "y"} and c.data == b"value" and c.version == version and c.name == "conf"
    assert s.apply(ops.file_update("config", "c1", v, {"z": "1"}))[0] == "OutOfDate"  # the old version again
