"""Issue #16 on one real cluster (a manager without an engine, one node): `svc service ...`, `--format`
templates, inspect JSON/--pretty/--format, the waits of create/scale (global, a failing task, another
write meanwhile), the engine-less manager in `svc node ls`, --env-file, `-p 80`, --publish-add/-rm,
update --force, logs in time order, and `svc image import`'s errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from helpers import REPO, free_port, poll, run_cli
from test_cluster import build

pytestmark = pytest.mark.root

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def test_formats_inspect_waits_and_import_errors(make_cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    c = build(make_cluster, managers=1, nodes=1)
    node_host = c.nodes()[0]
    port = free_port()

    # docker's spelling: `svc service VERB`, the same commands as the short forms.
    c.ok("service", "create", "-d", "--name", "web", "-p", f"{port}:80", "busybox", "sleep", "100000")
    assert c.ok("service", "ls", "-q") == c.ok("ls", "-q") != ""
    assert c.ok("__complete", "--", "scale", "w").split() == ["web="]  # shell completion asks the managers

    # --format: fields (.Ports too), table with a header, json, functions; a bad field is an error.
    assert c.ok("ls", "--format", "{{.Name}} {{.Ports}}").strip() == f"web *:{port}->80/tcp"  # the routing mesh
    table = c.ok("service", "ls", "--format", "table {{.Name}}\\t{{.Mode | upper}}").splitlines()
    assert table[0].split() == ["NAME", "MODE"] and table[1].split() == ["web", "REPLICATED"]
    assert json.loads(c.ok("ls", "--format", "{{json .}}"))["Name"] == "web"
    r = c.cli(None, "ls", "--format", "{{.Bogus}}")
    assert r.returncode == 1 and r.stdout == "" and r.stderr.count("\n") == 1, r
    assert 'executing "" at <.Bogus>: can\'t evaluate field Bogus' in r.stderr
    r = c.cli(None, "node", "ls", "--format", "{{if .Self}}")
    assert r.returncode == 1 and "template parsing error" in r.stderr and r.stderr.count("\n") == 1, r

    # The manager has no engine: ENGINE VERSION `-`; the node shows its engine's.
    engines = dict(
        line.split() for line in c.ok("node", "ls", "--format", "{{.Hostname}} {{.EngineVersion}}").splitlines()
    )
    assert engines[f"node-{node_host.name}"] not in ("", "-") and sorted(engines.values()).count("-") == 1, engines

    # inspect: integers, RFC 3339 times, --format on docker's field names, --pretty.
    (doc,) = json.loads(c.ok("inspect", "web"))
    assert isinstance(doc["version"], int) and doc["spec"]["replicas"] == 1
    assert RFC3339.match(doc["created_at"]) and RFC3339.match(doc["updated_at"]), doc["created_at"]
    assert c.ok("service", "inspect", "--format", "{{.Spec.Name}} {{.Spec.Replicas}}", "web").strip() == "web 1"
    pretty = c.ok("inspect", "--pretty", "web")
    assert "Name:\t\tweb" in pretty and " Replicas:\t1" in pretty and f" PublishedPort = {port}" in pretty
    (node_doc,) = json.loads(c.ok("node", "inspect", f"node-{node_host.name}"))
    assert isinstance(node_doc["description"]["memory_bytes"], int) and RFC3339.match(node_doc["created_at"])
    assert c.ok("node", "inspect", "-f", "{{.Description.Hostname}}", f"node-{node_host.name}").strip() == (
        f"node-{node_host.name}"
    )
    run_dir = {"SVC_RUN_DIR": node_host.run_dir}
    poll(lambda: "web" in run_cli("container", "ls", "--format", "{{.Labels}}", env=run_dir).stdout, 30, what="web")
    stats = run_cli("container", "stats", "--format", "table {{.Name}}\t{{.PIDs}}", env=run_dir)
    assert stats.returncode == 0 and stats.stdout.split()[:2] == ["NAME", "PIDS"], stats

    # A global service waits for its task on every eligible node (the engine-less manager is not one).
    r = c.cli(None, "create", "--name", "glob", "--mode", "global", "busybox", "sleep", "100000")
    assert r.returncode == 0 and "glob: 1/1 running" in r.stdout, r
    assert "Running" in c.ok("ps", "glob")

    # The first task failing with a reason ends the wait at once, non-zero, with the reason.
    start = time.monotonic()
    r = c.cli(None, "create", "--name", "bad", "--restart-delay", "30s", "--entrypoint", "/nonexistent", "busybox")
    assert r.returncode == 1 and "svc: bad: task bad.1 rejected: " in r.stderr and "/nonexistent" in r.stderr, r
    assert time.monotonic() - start < 60
    r = c.cli(None, "create", "--name", "quick", "busybox", "false")  # runs, then exits at once
    assert r.returncode == 1 and "svc: quick: task quick.1 failed: task: non-zero exit (1)" in r.stderr, r

    # Another write while `svc scale` waits: it says so and exits non-zero.
    c.ok(
        "create", "-d", "--name", "stuck", "--replicas", "0", "--constraint", "node.labels.never==1", "busybox", "true"
    )
    env = {**os.environ, "SVC_HOST": c.any_live_manager().api, "SVC_TLS_DIR": c.admin_dir()}
    waiting = subprocess.Popen(
        [sys.executable, "-m", "svc", "scale", "stuck=2"], env=env, cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    poll(lambda: json.loads(c.ok("inspect", "stuck"))[0]["spec"]["replicas"] == 2, 20, what="the first scale")
    c.ok("scale", "-d", "stuck=5")
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 1 and "svc: stuck: replicas changed to 5 by another update" in err, (out, err)

    # --env-file; `-p 80`: the managers pick the published port from 30000-32767; --publish-add/-rm.
    envf = tmp_path / "env"
    envf.write_text("A=1\n# not a variable\nB=two words\n")
    c.ok("create", "-d", "--name", "picked", "-p", "80", "--env-file", str(envf), "busybox", "sleep", "100000")
    (task,) = [json.loads(c.ok("inspect", "picked"))[0]["spec"]["task"]]
    assert task["env"] == ["A=1", "B=two words"] and 30000 <= task["ports"][0]["host_port"] <= 32767, task
    c.ok("update", "-d", "--publish-add", "81", "--publish-rm", "80", "picked")
    ports = json.loads(c.ok("inspect", "picked"))[0]["spec"]["task"]["ports"]
    assert [p["container_port"] for p in ports] == [81] and 30000 <= ports[0]["host_port"] <= 32767, ports

    # svc update --force replaces every task, and waits for the new ones.
    before = set(c.ok("ps", "-q", "-f", "desired-state=running", "web").split())
    r = c.cli(None, "update", "--force", "web")
    assert r.returncode == 0 and "web: 1/1 running" in r.stdout, r
    after = set(c.ok("ps", "-q", "-f", "desired-state=running", "web").split())
    assert after and before.isdisjoint(after), (before, after)

    # svc logs: every task's lines in time order; -t at nine digits; --raw; --since/--until.
    loop = "for i in 1 2 3 4; do echo line$i; sleep 0.2; done; sleep 100000"
    c.ok("create", "--name", "talk", "--replicas", "2", "busybox", "sh", "-c", loop)
    poll(lambda: c.ok("logs", "talk").count("line4") == 2, 30, what="both tasks' lines")
    stamps = [line.split()[0] for line in c.ok("logs", "-t", "talk").splitlines()]
    assert len(stamps) == 8 and stamps == sorted(stamps) and all(re.match(r".*\.\d{9}Z$", t) for t in stamps), stamps
    assert sorted(c.ok("logs", "--raw", "talk").split()) == sorted(["line1", "line2", "line3", "line4"] * 2)
    assert c.ok("logs", "--until", "2000-01-01", "talk") == "" and c.ok("logs", "--since", "1h", "talk") != ""

    # svc image import: the user's file name in every error, never the engine's spool file.
    truncated = tmp_path / "truncated.tar"
    with open(c.busybox, "rb") as f:
        truncated.write_bytes(f.read()[: os.path.getsize(c.busybox) // 2])
    for path, message in (
        ("/etc/passwd", "/etc/passwd"),
        (str(truncated), str(truncated)),
        (str(tmp_path / "missing.tar"), f"svc: no such file: {tmp_path / 'missing.tar'}"),
    ):
        r = run_cli("image", "import", path, "x:1", env=run_dir)
        assert r.returncode == 1 and message in r.stderr and ".import" not in r.stderr, (path, r.stderr)
        assert r.stderr.count("\n") == 1 and "Exception iterating" not in r.stderr, r.stderr
