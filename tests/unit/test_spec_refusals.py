"""What can never run is refused at `svc create`/`update` (the CLI's early check) and by the managers.

Issue #16: `--user a:b:c`, `--runtime nosuch`, a 1 MB environment value and `--name ""` were accepted.
"""

from __future__ import annotations

import pytest

from manager import servicespec
from svc import containerspec, defaults
from svc.cli.main import main
from svc.errors import InvalidArgument
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as pb


def _spec(**task: object) -> cpb.ServiceSpec:
    return cpb.ServiceSpec(name="web", replicas=1, task=pb.ContainerSpec(image="busybox", **task))  # type: ignore[arg-type]


@pytest.mark.parametrize("user", ["root", "1000", "app:staff", "1000:1000", ""])
def test_valid_users(user: str) -> None:
    containerspec.validate_user(user)
    servicespec.validate(_spec(user=user))


@pytest.mark.parametrize("user", ["a:b:c", ":", "a:", ":b", "a b", "::"])
def test_invalid_users(user: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid user"):
        servicespec.validate(_spec(user=user))


def test_runtimes() -> None:
    for rt in (*defaults.KNOWN_RUNTIMES, ""):
        servicespec.validate(_spec(runtime=rt))
    with pytest.raises(InvalidArgument, match="unknown runtime 'nosuch': use runc or crun"):
        servicespec.validate(_spec(runtime="nosuch"))


def test_env_limits_named() -> None:
    servicespec.validate(_spec(env=["A=" + "x" * (defaults.ENV_ENTRY_MAX_BYTES - 2)]))
    with pytest.raises(InvalidArgument, match=r"BIG is \d+ bytes: the limit is 64 KiB per KEY=VALUE"):
        servicespec.validate(_spec(env=["BIG=" + "x" * (1 << 20)]))
    many = [f"K{i}=" + "x" * (60 << 10) for i in range(5)]
    with pytest.raises(InvalidArgument, match="the limit is 256 KiB for all variables together"):
        servicespec.validate(_spec(env=many))


def test_whole_spec_limit_named() -> None:
    spec = _spec()
    spec.labels["big"] = "x" * defaults.SERVICE_SPEC_MAX_BYTES
    with pytest.raises(InvalidArgument, match=r"the service spec is .* the limit is 1024 KiB"):
        servicespec.validate(spec)


def test_empty_name_refused_by_manager() -> None:
    with pytest.raises(InvalidArgument, match="invalid service name ''"):
        servicespec.validate(cpb.ServiceSpec(name="", task=pb.ContainerSpec(image="busybox")))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--user", "a:b:c"], "invalid user 'a:b:c'"),
        (["--runtime", "nosuch"], "unknown runtime 'nosuch'"),
        (["-e", "BIG=" + "x" * (1 << 20)], "the limit is 64 KiB"),
        (["--name", ""], "invalid service name ''"),
    ],
)
def test_cli_refuses_before_calling_a_manager(flags: list[str], message: str, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # No manager anywhere: a refusal that reached for one would say "no manager to talk to" instead.
    monkeypatch.setenv("SVC_RUN_DIR", "/nonexistent")
    monkeypatch.delenv("SVC_HOST", raising=False)
    assert main(["create", *flags, "busybox", "sleep", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err
    assert err.count("\n") == 0
