"""The trust model, refusal by refusal: tokens, certificates, roles, the Raft key, secrets in output."""

from __future__ import annotations

import os
import shutil
import sys
import time

import pytest
from helpers import REPO, poll, run_cli
from test_cluster import build, per_node

pytestmark = pytest.mark.root


def join_node(c, h, join, token: str):  # type: ignore[no-untyped-def]
    """Try `svcd node --join` and return (exit code, stderr) once it stops or registers."""
    import subprocess

    args = [
        sys.executable,
        "-m",
        "svcd",
        "node",
        "--data-dir",
        h.data_dir,
        "--run-dir",
        h.run_dir,
        "--bridge",
        h.bridge,
        "--subnet",
        h.subnet,
        "--cgroup-parent",
        h.cgroup_parent,
        "--metrics-addr",
        "",
        "--join",
        join.api,
        "--token",
        token,
        "--hostname",
        f"node-{h.name}",
    ]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": REPO})
    return r.returncode, r.stderr


def test_bad_tokens_are_refused_and_nothing_joins(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster()
    m = c.start_manager(c.add_host())
    good = c.token("worker", via=m)
    wrong = good.rsplit("-", 1)[0] + "-" + "0" * 32
    other_ca = "SWMTKN-1-" + "a" * 52 + "-" + good.rsplit("-", 1)[1]
    cases = [
        (wrong, "invalid join token (wrong or rotated)"),
        ("not-a-token", "invalid join token: it must start with SWMTKN-1-"),
        ("SWMTKN-1-short-x", "invalid join token: malformed"),
        (other_ca, "does not present the CA named in the join token"),
    ]
    for token, message in cases:
        h = c.add_host()
        code, err = join_node(c, h, m, token)
        assert code != 0 and message in err, err
        assert err.strip().splitlines()[-1].startswith("svcd: ") and "Traceback" not in err, err
        assert not os.path.exists(os.path.join(h.data_dir, "node", "containers"))  # refused before anything
        assert not os.path.exists(os.path.join(h.data_dir, "node", "tls", "cert.pem"))
    assert len(c.json_lines("node", "ls")) == 1  # only the manager
    log = m.manager.log()
    assert "refused a join from ipv4:127." in log and "wrong or rotated" in log


def test_token_rotation_keeps_joined_nodes(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster()
    m = c.start_manager(c.add_host())
    old = c.token("worker", via=m)
    c.start_node(c.add_host())
    rotated = c.ok("cluster", "join-token", "--rotate", "worker", "-q").strip()
    assert rotated != old
    code, err = join_node(c, c.add_host(), m, old)
    assert code != 0 and "invalid join token (wrong or rotated)" in err
    assert c.node_state(f"node-{c.nodes()[0].name}") == "ready"
    c.start_node(c.add_host())  # the new token works (the harness asks for the current one)
    assert sum(1 for n in c.json_lines("node", "ls") if n["state"] == "ready") == 3


def test_roles_and_foreign_or_plain_clients(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster()
    m = c.start_manager(c.add_host())
    n = c.start_node(c.add_host())
    # A worker's certificate may not use the control API.
    r = run_cli("ls", env={"SVC_HOST": m.api, "SVC_TLS_DIR": os.path.join(n.data_dir, "node", "tls")})
    assert r.returncode != 0 and "role worker may not call ListServices" in r.stderr
    assert "refused /svc.v1.Control/ListServices from ipv4:127." in m.manager.log()
    # Anonymous callers on the join port get nothing but a certificate (with a token).
    import grpc

    from svc.v1 import common_pb2, control_pb2_grpc

    ca = open(os.path.join(m.admin_dir, "ca.pem"), "rb").read()
    host, port = m.api.rsplit(":", 1)
    creds = grpc.ssl_channel_credentials(root_certificates=ca)
    with grpc.secure_channel(
        f"{host}:{int(port) + 2}", creds, options=[("grpc.ssl_target_name_override", "svc-manager")]
    ) as ch:
        with pytest.raises(grpc.RpcError) as exc:
            control_pb2_grpc.ControlStub(ch).ClusterInfo(common_pb2.Empty(), timeout=10)
        assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # A plaintext client gets nowhere.
    with grpc.insecure_channel(m.api) as ch:
        with pytest.raises(grpc.RpcError) as exc:
            control_pb2_grpc.ControlStub(ch).ClusterInfo(common_pb2.Empty(), timeout=10)
        assert exc.value.code() == grpc.StatusCode.UNAVAILABLE
    # A certificate from another cluster is refused by the TLS handshake.
    other = make_cluster()
    om = other.start_manager(other.add_host())
    r = run_cli("ls", env={"SVC_HOST": m.api, "SVC_TLS_DIR": om.admin_dir})
    assert r.returncode != 0 and "do not trust each other" in r.stderr and len(r.stderr.splitlines()) == 1
    # A client bundle works remotely, and is written root-only.
    bundle = str(tmp_path / "bundle")
    c.ok("cluster", "client-bundle", bundle)
    assert os.stat(os.path.join(bundle, "key.pem")).st_mode & 0o777 == 0o600
    assert run_cli("ls", env={"SVC_HOST": m.api, "SVC_TLS_DIR": bundle}).returncode == 0


def test_removed_node_is_refused(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster()
    m = c.start_manager(c.add_host())
    n = c.start_node(c.add_host())
    r = c.cli(None, "node", "rm", f"node-{n.name}")
    assert r.returncode != 0 and "is not down" in r.stderr
    c.ok("node", "rm", "--force", f"node-{n.name}")
    poll(lambda: "certificate of a node removed from the cluster" in m.manager.log(), 30, what="the refusal logged")
    time.sleep(2)
    assert all(x["description"]["hostname"] != f"node-{n.name}" for x in c.json_lines("node", "ls"))


def test_certificates_renew_without_dropping_the_node(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster()
    c.extra_manager_args = ["--cert-lifetime", "12"]
    m = c.start_manager(c.add_host())
    n = c.start_node(c.add_host())
    c.import_image(n, c.busybox)
    c.ok("create", "--name", "web", "--replicas", "2", "busybox", "sleep", "1000000")
    cert = os.path.join(n.data_dir, "node", "tls", "cert.pem")
    first = open(cert, "rb").read()
    poll(lambda: open(cert, "rb").read() != first, 30, what="the node's certificate renewed")
    second = open(cert, "rb").read()
    poll(lambda: open(cert, "rb").read() != second, 30, what="a second renewal")
    assert c.node_state(f"node-{n.name}") == "ready"
    assert "is down" not in m.manager.log()
    assert per_node(c, "web") == {n.name: 2}


def test_raft_peer_without_the_key_is_refused(make_cluster) -> None:  # type: ignore[no-untyped-def]
    from pysyncobj import SyncObj, SyncObjConf

    c = make_cluster()
    m = c.start_manager(c.add_host())
    raft_addr = f"{m.addr}:4243"
    # (pysyncobj dials only peers whose address sorts lower than its own: 5xxxx > 4243)
    intruder = SyncObj(f"{m.addr}:54999", [raft_addr], conf=SyncObjConf(password="not-the-key", autoTick=True))
    try:
        poll(lambda: "refused a Raft connection from" in m.manager.log(), 30, what="the refusal logged")
    finally:
        intruder.destroy()
    assert c.cli(None, "cluster", "info").returncode == 0


def test_container_hardening_flags_on_services(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster, managers=1, nodes=1)
    c.ok(
        "create",
        "--name",
        "locked",
        "--read-only",
        "--user",
        "nobody",
        "--cap-drop",
        "ALL",
        "busybox",
        "sleep",
        "1000000",
    )
    h = c.nodes()[0]
    ctr = c.running_containers(h)[0]["name"]
    env = {"SVC_RUN_DIR": h.run_dir}
    assert run_cli("container", "exec", ctr, "id", "-u", env=env).stdout.strip() == "65534"
    r = run_cli("container", "exec", ctr, "touch", "/x", env=env)
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    status = run_cli("container", "exec", ctr, "grep", "CapEff", "/proc/self/status", env=env).stdout
    assert status.split()[1] == "0000000000000000"


def test_secrets_never_leak(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster, managers=2, nodes=1)
    tokens = [c.token("worker", via=c.managers()[0]), c.token("manager", via=c.managers()[0])]
    secrets = [t.rsplit("-", 1)[1] for t in tokens]
    outputs = [
        c.ok("cluster", "info"),
        c.ok("node", "inspect", *[n["id"] for n in c.json_lines("node", "ls")]),
        c.ok("ls"),
        c.logs(),
    ]
    c.ok("create", "--name", "web", "busybox", "sleep", "100000")
    outputs += [c.ok("inspect", "web"), c.ok("ps", "web", "--format", "json")]
    for h in c.hosts:
        for name in os.listdir(h.base):
            if name.endswith(".log"):
                outputs.append(open(os.path.join(h.base, name), errors="replace").read())
    text = "\n".join(outputs)
    for secret in secrets:
        assert secret not in text
    assert "PRIVATE KEY" not in text
    # Credentials on disk are root-only.
    for h in c.managers():
        for f in ("key.pem", "cert.pem"):
            assert os.stat(os.path.join(h.data_dir, "manager", "tls", f)).st_mode & 0o777 == 0o600
        assert os.stat(os.path.join(h.data_dir, "manager", "state.json")).st_mode & 0o777 == 0o600
    shutil.rmtree(os.path.join(c.base, "nothing"), ignore_errors=True)


def test_expired_certificate_is_refused(make_cluster) -> None:  # type: ignore[no-untyped-def]
    c = make_cluster()
    c.extra_manager_args = ["--cert-lifetime", "10"]
    m = c.start_manager(c.add_host())
    n = c.start_node(c.add_host())
    c.kill9(n, "node")  # no renewal while it is down
    time.sleep(11)
    # The CLI says so before trying; the manager refuses it in the TLS handshake anyway.
    node_tls = os.path.join(n.data_dir, "node", "tls")
    r = run_cli("ls", env={"SVC_HOST": m.api, "SVC_TLS_DIR": node_tls})
    assert r.returncode != 0 and "expired on" in r.stderr
    import grpc

    from svc import tls
    from svc.v1 import common_pb2, control_pb2_grpc

    with tls.secure_channel(m.api, tls.Identity.load(node_tls), aio=False) as ch:
        with pytest.raises(grpc.RpcError) as exc:
            control_pb2_grpc.ControlStub(ch).ClusterInfo(common_pb2.Empty(), timeout=10)
        assert exc.value.code() == grpc.StatusCode.UNAVAILABLE
    n.node.start()
    poll(lambda: "certificate expired" in n.node.log(), 30, what="the node to say its certificate expired")
    poll(lambda: c.node_state(f"node-{n.name}") == "down", 30, what="the node marked down")
    time.sleep(3)
    assert c.node_state(f"node-{n.name}") == "down"  # and it stays out
