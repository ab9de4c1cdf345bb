"""Secrets and configs, the pure parts: `--secret`/`--config` parsing and docker's defaults, the
AES-GCM envelope, the store's ops (set-once data key, in-use refusal, references checked,
snapshots), and the leader's task files (opened for the node, configs as they are)."""

from __future__ import annotations

import pytest

from manager import secretapi, secretbox
from manager.store import ops
from manager.store.objects import TaskObj
from manager.store.state import StoreState
from svc import filerefs
from svc.errors import InvalidArgument, NotFound, RuntimeFailure
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as pb

KEY = bytes(range(32))


# ----- parsing -----


def test_short_form_gets_docker_s_defaults() -> None:
    s = filerefs.parse_ref("secret", "db_pass")
    assert (s.name, s.target, s.uid, s.gid, s.mode) == ("db_pass", "/run/secrets/db_pass", 0, 0, 0o444)
    c = filerefs.parse_ref("config", "nginx.conf")
    assert (c.target, c.mode) == ("/nginx.conf", 0o444)


def test_long_form_options() -> None:
    s = filerefs.parse_ref("secret", "source=db,target=pw,uid=100,gid=101,mode=0400")
    assert (s.name, s.target, s.uid, s.gid, s.mode) == ("db", "/run/secrets/pw", 100, 101, 0o400)
    assert filerefs.parse_ref("secret", "src=db,target=/etc/pw").target == "/etc/pw"
    assert filerefs.parse_ref("config", "source=c,target=etc/app.conf").target == "/etc/app.conf"


@pytest.mark.parametrize(
    "text",
    ["target=/x", "source=db,mode=9", "source=db,uid=-1", "source=db,colour=red", "source=db,target=../x", "bad name!"],
)
def test_bad_references_are_one_line_errors(text: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        filerefs.parse_ref("secret", text)
    assert "\n" not in str(err.value)


def test_names_sizes_and_targets() -> None:
    for good in ("a", "db_pass", "my.key-1"):
        filerefs.check_name("secret", good)
    for bad in ("", "-a", "a-", "a b", "x" * 65):
        with pytest.raises(InvalidArgument):
            filerefs.check_name("secret", bad)
    filerefs.check_data("secret", b"x" * (500 * 1024 - 1))
    with pytest.raises(InvalidArgument, match="500 KB"):
        filerefs.check_data("secret", b"x" * (500 * 1024))
    with pytest.raises(InvalidArgument):
        filerefs.check_data("config", b"")
    a, b = filerefs.parse_ref("secret", "source=a,target=/x"), filerefs.parse_ref("config", "source=b,target=/x")
    with pytest.raises(InvalidArgument, match="target /x"):
        filerefs.check_refs([a], [b])


def test_update_refs_removes_by_name_or_target_then_adds() -> None:
    refs = [filerefs.parse_ref("secret", "a"), filerefs.parse_ref("secret", "source=b,target=/etc/b")]
    out = filerefs.update_refs("secret", refs, ["c"], ["a", "/etc/b"])
    assert [r.name for r in out] == ["c"]
    with pytest.raises(InvalidArgument, match="no secret zz"):
        filerefs.update_refs("secret", refs, [], ["zz"])


# ----- the envelope -----


def test_envelope_round_trip_and_binding() -> None:
    blob = secretbox.seal(KEY, "id1", b"hunter2")
    assert b"hunter2" not in blob
    assert secretbox.open_sealed(KEY, "id1", blob) == b"hunter2"
    assert secretbox.seal(KEY, "id1", b"hunter2") != blob  # a fresh nonce each time
    with pytest.raises(RuntimeFailure):
        secretbox.open_sealed(KEY, "id2", blob)  # moved to another secret
    with pytest.raises(RuntimeFailure):
        secretbox.open_sealed(bytes(32), "id1", blob)  # another key
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(RuntimeFailure):
        secretbox.open_sealed(KEY, "id1", flipped)


# ----- the store -----


def fresh(key: bytes = b"") -> StoreState:
    s = StoreState()
    assert s.apply(ops.cluster_init({"id": "c1", **({"secrets_key": key} if key else {})}))[0] == ""
    return s


def _service(name: str, secret_id: str = "", config_id: str = "") -> cpb.ServiceSpec:
    spec = cpb.ServiceSpec(name=name, task=pb.ContainerSpec(image="busybox"))
    if secret_id:
        spec.task.secrets.add(id=secret_id, name="pw", target="/run/secrets/pw", mode=0o400)
    if config_id:
        spec.task.configs.add(id=config_id, name="conf", target="/conf", mode=0o444)
    return spec


def test_data_key_is_set_once() -> None:
    s = fresh()
    assert s.apply(ops.file_create("secret", "s1", "pw", b"x", {}))[0] == "InvalidArgument"  # no key yet
    assert s.apply(ops.cluster_secrets_key(KEY)) == ("", True)
    assert s.apply(ops.cluster_secrets_key(bytes(32))) == ("", False)  # a racing proposal keeps the first
    assert s.cluster is not None and s.cluster.secrets_key == KEY
    assert s.apply(ops.cluster_secrets_key(b"short"))[0] == ""  # already set: ignored, not an error


def test_create_remove_in_use_and_references() -> None:
    s = fresh(KEY)
    sealed = secretbox.seal(KEY, "s1", b"hunter2")
    assert s.apply(ops.file_create("secret", "s1", "pw", sealed, {"a": "b"}))[0] == ""
    assert s.apply(ops.file_create("secret", "s2", "pw", sealed, {}))[0] == "AlreadyExists"
    assert s.apply(ops.file_create("config", "c1", "conf", b"plain", {}))[0] == ""
    assert s.apply(ops.file_create("config", "c2", "pw", b"same name, other kind", {}))[0] == ""
    assert s.apply(ops.service_create("x1", _service("web", "nope")))[0] == "NotFound"
    assert s.apply(ops.service_create("x1", _service("web", "s1", "c1")))[0] == ""
    code, msg = s.apply(ops.file_remove("secret", "s1"))
    assert code == "Conflict" and "web" in msg
    assert s.apply(ops.file_remove("config", "c1"))[0] == "Conflict"
    assert s.apply(ops.file_remove("config", "s1"))[0] == "NotFound"  # not a config
    # Dropped from the spec (swarmkit's rule: the previous spec does not hold it): removable, and a
    # rollback to the spec that names it is then refused in apply.
    v = s.services["x1"].version
    assert s.apply(ops.service_update("x1", v, _service("web", config_id="c1")))[0] == ""
    assert s.apply(ops.file_remove("secret", "s1"))[0] == ""
    v = s.services["x1"].version
    assert s.apply(ops.service_update("x1", v, _service("web", "s1"), rollback=True))[0] == "NotFound"
    assert s.apply(ops.service_remove("x1"))[0] == ""
    assert "s1" not in s.secrets and s.configs["c1"].data == b"plain"


def test_snapshot_round_trip_keeps_files_and_key() -> None:
    s = fresh(KEY)
    s.apply(ops.file_create("secret", "s1", "pw", secretbox.seal(KEY, "s1", b"v"), {"k": "v"}))
    s.apply(ops.file_create("config", "c1", "conf", b"plain", {}))
    t = StoreState()
    t.load_plain(s.to_plain())
    assert t.secrets == s.secrets and t.configs == s.configs
    assert t.cluster is not None and t.cluster.secrets_key == KEY
    assert t.digest() == s.digest()


def test_leader_resolves_names_and_opens_values_for_the_task() -> None:
    s = fresh(KEY)
    s.apply(ops.file_create("secret", "s1", "pw", secretbox.seal(KEY, "s1", b"hunter2"), {}))
    s.apply(ops.file_create("config", "c1", "conf", b"plain", {}))
    snap = s.snapshot()
    spec = cpb.ServiceSpec(name="web", task=pb.ContainerSpec(image="busybox"))
    spec.task.secrets.append(filerefs.parse_ref("secret", "pw"))
    spec.task.configs.append(filerefs.parse_ref("config", "source=conf,target=/etc/conf"))
    secretapi.resolve(snap, spec)
    assert spec.task.secrets[0].id == "s1" and spec.task.configs[0].id == "c1"
    task = TaskObj(id="t1", service_id="x", slot=1, spec=spec.task, service_version=1)
    files = {f.id: f.data for f in secretapi.task_files(task, snap)}
    assert files == {"s1": b"hunter2", "c1": b"plain"}
    view = secretapi.view(snap.secrets["s1"], snap)
    assert view.spec.data == b"" and b"hunter2" not in view.SerializeToString()
    assert secretapi.view(snap.configs["c1"], snap).spec.data == b"plain"
    bad = cpb.ServiceSpec(name="web", task=pb.ContainerSpec(image="busybox"))
    bad.task.secrets.append(filerefs.parse_ref("secret", "missing"))
    with pytest.raises(NotFound, match="secret not found: missing"):
        secretapi.resolve(snap, bad)


class _Manager:
    """Just enough of a leader for secretapi: a store it writes to and reads back."""

    def __init__(self, state: StoreState) -> None:
        self.state = state

    @property
    def cluster(self):  # type: ignore[no-untyped-def]
        return self.state.cluster

    def snapshot(self):  # type: ignore[no-untyped-def]
        return self.state.snapshot()

    async def write(self, op: dict) -> object:  # type: ignore[type-arg]
        code, value = self.state.apply(op)
        assert code == "", value
        return value


def test_a_cluster_from_before_secrets_gets_its_data_key_on_first_use() -> None:
    import asyncio
    from typing import Any

    from svc.v1 import control_pb2 as ctl

    state = fresh()  # no key: a cluster initialised before secrets existed
    m: Any = _Manager(state)

    def create(kind: str, name: str, data: bytes, **labels: str) -> cpb.Secret:
        spec = cpb.SecretSpec(name=name, labels=labels, data=data)
        return asyncio.run(secretapi.create(m, ctl.CreateSecretRequest(kind=kind, spec=spec)))

    made = create("secret", "pw", b"hunter2", a="b")
    assert state.cluster is not None and len(state.cluster.secrets_key) == 32
    key = state.cluster.secrets_key
    assert made.spec.data == b"" and made.spec.labels["a"] == "b"
    assert secretbox.open_sealed(key, made.id, state.secrets[made.id].data) == b"hunter2"
    create("secret", "x", b"1")
    assert state.cluster.secrets_key == key  # made once
    conf = create("config", "c", b"v")
    assert conf.spec.data == b"v" and state.configs[conf.id].data == b"v"
    with pytest.raises(InvalidArgument, match="500 KB"):
        create("secret", "e", b"")
