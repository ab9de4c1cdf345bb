"""Secrets and configs in real tasks (issue #15 items 1-2): one manager and two nodes on loopback.

A secret reaches its task at /run/secrets/NAME (and at a target with its uid, gid and mode) on a
tmpfs that is gone with the container; no file under any host's data dir holds its value (nor does
any command's output or daemon log); `rm` of a secret in use is refused naming the service;
`--secret-add/--secret-rm` replace the tasks; configs the same way, read-only, their value shown by
inspect.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from typing import Any

import pytest
from helpers import poll, run_cli

pytestmark = pytest.mark.root


def _placed(c: Any, service: str) -> list[tuple[Any, dict[str, Any]]]:
    return [
        (h, ctr)
        for h in c.nodes()
        for ctr in c.running_containers(h)
        if ctr.get("labels", {}).get("svc.service.name") == service and ctr.get("state") == "running"
    ]


def _exec(h: Any, cid: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return run_cli("container", "exec", cid, *cmd, env={"SVC_RUN_DIR": h.run_dir})


def _tmpfs(h: Any, cid: str) -> str:
    return os.path.join(h.run_dir, "engine", "taskfiles", cid)  # the engine's run dir


def _on_disk(hosts: list[Any], value: str) -> list[str]:
    found = []
    for h in hosts:
        r = subprocess.run(["grep", "-r", "-l", "-a", "-F", value, h.data_dir], capture_output=True, text=True)
        found += r.stdout.split()
    return found


def _files(hosts: list[Any]) -> list[tuple[str, bytes]]:
    out = []
    for h in hosts:
        for root, _, names in os.walk(h.data_dir):
            for name in names:
                p = os.path.join(root, name)
                if os.path.isfile(p) and not os.path.islink(p):
                    with open(p, "rb") as f:
                        out.append((p, f.read()))
    return out


def _data_key_sealed_in_the_store(c: Any, tmp_path: Any, value: str) -> None:
    """The store (read from a backup) holds the value sealed and the data key; no file on any host
    holds the data key in the clear (the store at rest is encrypted, and sealed by autolock)."""
    from manager import backup as store_backup
    from svc import backup

    path = str(tmp_path / "cluster.svcbackup")
    key = c.ok("cluster", "backup", "-q", path).strip()
    _, raw = backup.unseal(backup.read(path), backup.parse_key(key))
    doc = store_backup.decode(raw)
    data_key = doc["cluster"]["secrets_key"]
    assert len(data_key) == 32
    [sealed] = [f["data"] for f in doc["files"] if f["kind"] == "secret"]
    assert value.encode() not in sealed and sealed.startswith(b"SVCSEC1")
    forms = (data_key, data_key.hex().encode(), base64.b64encode(data_key))
    assert [p for p, data in _files(c.hosts) if any(form in data for form in forms)] == []


def test_secrets_and_configs_in_tasks(make_cluster: Any, tmp_path: Any) -> None:
    c = make_cluster()
    c.start_manager(c.add_host())
    for _ in range(2):
        n = c.start_node(c.add_host())
        c.import_image(n, c.busybox)
    value, conf = f"s3cret-{uuid.uuid4().hex}", f"listen {uuid.uuid4().hex}\n"
    path = tmp_path / "pw"
    path.write_text(value)

    assert c.ok("secret", "create", "--label", "app=web", "db_pass", str(path)).strip()
    env = {"SVC_HOST": c.any_live_manager().api, "SVC_TLS_DIR": c.admin_dir()}
    r = run_cli("config", "create", "app.conf", "-", env=env, input=conf.encode())
    assert r.returncode == 0, r.stderr
    big = tmp_path / "big"
    big.write_bytes(b"x" * 500 * 1024)
    for args, why in (
        (("secret", "create", "db_pass", str(path)), "already exists"),
        (("secret", "create", "bad name", str(path)), "invalid secret name"),
        (("secret", "create", "big", str(big)), "500 KB"),
        (("create", "--name", "x", "--secret", "nosuch", "busybox", "true"), "secret not found: nosuch"),
    ):
        r = c.cli(None, *args)
        assert r.returncode != 0 and why in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert [s["Spec"]["Name"] for s in c.json_lines("secret", "ls")] == ["db_pass"]
    assert c.ok("secret", "ls", "-q", "-f", "label=app=web").strip()

    r = c.cli(
        None,
        "create", "--name", "web",
        "--secret", "db_pass",
        "--secret", "source=db_pass,target=/etc/pw,uid=100,gid=101,mode=0400",
        "--config", "source=app.conf,target=/etc/app.conf",
        "busybox", "sleep", "1000000",
        timeout=180,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    [(h, ctr)] = _placed(c, "web")
    cid = ctr["id"]
    assert _exec(h, cid, "cat", "/run/secrets/db_pass").stdout == value
    assert _exec(h, cid, "stat", "-c", "%a %u %g", "/run/secrets/db_pass").stdout.split() == ["444", "0", "0"]
    assert _exec(h, cid, "stat", "-c", "%a %u %g", "/etc/pw").stdout.split() == ["400", "100", "101"]
    assert _exec(h, cid, "cat", "/etc/app.conf").stdout == conf
    assert _exec(h, cid, "sh", "-c", "echo x > /etc/app.conf").returncode != 0  # read-only
    assert os.path.ismount(_tmpfs(h, cid))

    # Nowhere on disk, in no answer, in no log.
    assert _on_disk(c.hosts, value) == []
    _data_key_sealed_in_the_store(c, tmp_path, value)
    shown = c.ok("inspect", "web") + c.ok("secret", "inspect", "db_pass") + c.ok("ps", "web") + c.ok("secret", "ls")
    shown += run_cli("container", "inspect", cid, env={"SVC_RUN_DIR": h.run_dir}).stdout
    assert value not in shown
    [doc] = json.loads(c.ok("secret", "inspect", "db_pass"))
    assert doc["Spec"] == {"Name": "db_pass", "Labels": {"app": "web"}} and doc["Services"] == ["web"]
    assert {"ID", "CreatedAt", "UpdatedAt"} <= set(doc)
    [cdoc] = json.loads(c.ok("config", "inspect", "app.conf"))
    assert base64.b64decode(cdoc["Spec"]["Data"]).decode() == conf

    # In use: refused, naming the service; nothing removed.
    for kind, name in (("secret", "db_pass"), ("config", "app.conf")):
        r = c.cli(None, kind, "rm", name)
        assert r.returncode != 0 and "in use by service web" in r.stderr, r.stderr
    assert c.ok("secret", "ls", "-q").strip()

    # --secret-rm / --config-rm replace the task: the new one has neither, the old tmpfs is gone.
    r = c.cli(None, "update", "--secret-rm", "db_pass", "--config-rm", "app.conf", "web", timeout=180)
    assert r.returncode == 0, r.stderr
    poll(lambda: not os.path.exists(_tmpfs(h, cid)), 30, what="the replaced task's tmpfs to go")
    [(h2, ctr2)] = _placed(c, "web")
    assert ctr2["id"] != cid and _exec(h2, ctr2["id"], "test", "-e", "/run/secrets/db_pass").returncode != 0
    assert not os.path.exists(_tmpfs(h2, ctr2["id"]))  # nothing to mount: no tmpfs at all

    # --secret-add / --config-add bring them back in a new task.
    r = c.cli(None, "update", "--secret-add", "db_pass", "--config-add", "app.conf", "web", timeout=180)
    assert r.returncode == 0, r.stderr
    [(h3, ctr3)] = _placed(c, "web")
    assert _exec(h3, ctr3["id"], "cat", "/run/secrets/db_pass").stdout == value
    assert _exec(h3, ctr3["id"], "cat", "/app.conf").stdout == conf  # the default target: /NAME

    # The service gone, its tmpfs goes with its container; then the secret and config can go.
    assert c.cli(None, "rm", "web").returncode == 0
    poll(lambda: not _placed(c, "web") and not os.path.exists(_tmpfs(h3, ctr3["id"])), 60, what="web's removal")
    assert c.ok("secret", "rm", "db_pass").strip() == "db_pass"
    assert c.ok("config", "rm", "app.conf").strip() == "app.conf"
    assert c.ok("secret", "ls", "-q").strip() == "" and c.ok("config", "ls", "-q").strip() == ""
    assert _on_disk(c.hosts, value) == []
    assert not any(value in d.log() for h in c.hosts for d in (h.manager, h.node) if d is not None)


def test_task_files_on_a_tmpfs_with_owner_and_mode(tmp_path: Any) -> None:
    """The engine's part alone: files on a tmpfs of their own with uid, gid and mode, read-only binds;
    a missing value refused with nothing mounted; unmount and the start-up sweep leave nothing."""
    from node.engine.taskfiles import TaskFiles
    from svc.errors import InvalidArgument
    from svc.v1 import container_pb2 as pb

    tf = TaskFiles(str(tmp_path / "taskfiles"))
    spec = pb.ContainerSpec(image="busybox")
    spec.secrets.add(id="s1", name="pw", target="/run/secrets/pw", uid=100, gid=101, mode=0o400)
    spec.configs.add(id="c1", name="conf", target="/conf", mode=0o444)
    with pytest.raises(InvalidArgument, match="secret pw is not on this node"):
        tf.mount("ctr0", spec, {"c1": b"conf"})
    assert not os.path.exists(tmp_path / "taskfiles" / "ctr0")
    binds = tf.mount("ctr1", spec, {"s1": b"hunter2", "c1": b"conf"})
    directory = str(tmp_path / "taskfiles" / "ctr1")
    assert os.path.ismount(directory)
    assert [(dest, ro) for _, dest, ro in binds] == [("/run/secrets/pw", True), ("/conf", True)]
    st = os.stat(binds[0][0])
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (100, 101, 0o400)
    with open(binds[0][0], "rb") as f:
        assert f.read() == b"hunter2"
    assert tf.mount("ctr2", pb.ContainerSpec(image="busybox"), {}) == []  # nothing to mount: no tmpfs
    tf.mount("ctr3", spec, {"s1": b"x", "c1": b"y"})
    tf.unmount("ctr1")
    assert not os.path.exists(directory)
    tf.sweep(keep=[])  # what a crash left
    assert os.listdir(tmp_path / "taskfiles") == []
