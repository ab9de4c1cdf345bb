"""Seccomp profiles -> the OCI linux.seccomp section: architectures, capability and kernel conditions, checks."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from manager import servicespec
from node.engine import apparmor, ocispec, seccomp
from svc import seccompprofile
from svc.containerspec import DEFAULT_CAPS, capabilities, validate
from svc.errors import InvalidArgument
from svc.v1 import cluster_pb2 as cpb
from svc.v1 import container_pb2 as pb

AMD64 = seccomp.Host("amd64", (6, 1))
ARM64 = seccomp.Host("arm64", (6, 1))


def allowed(section: dict[str, Any]) -> set[str]:
    """Syscalls some rule allows unconditionally (no argument filter)."""
    return {n for r in section["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args") for n in r["names"]}


def rules_for(section: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in section["syscalls"] if name in r["names"]]


def default(caps: tuple[str, ...] = DEFAULT_CAPS, host: seccomp.Host = AMD64) -> dict[str, Any]:
    s = seccomp.for_container(pb.SeccompConfig(), caps, host)
    assert s is not None
    return s


def test_default_profile_denies_with_eperm_and_allows_the_usual_syscalls() -> None:
    s = default()
    assert s["defaultAction"] == "SCMP_ACT_ERRNO" and s["defaultErrnoRet"] == 1
    ok = allowed(s)
    assert {"read", "write", "openat", "execve", "futex", "epoll_wait", "clone"} - ok == {"clone"}  # clone: args
    for blocked in ("unshare", "mount", "setns", "keyctl", "add_key", "reboot", "init_module", "bpf", "kexec_load"):
        assert blocked not in ok, blocked
    json.dumps(s)  # what goes into config.json


def test_architectures_follow_the_host() -> None:
    assert default(host=AMD64)["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert default(host=ARM64)["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "architectures" not in default(host=seccomp.Host("sparc64", (6, 1)))  # the runtime's native only
    assert "arch_prctl" in allowed(default(host=AMD64)) and "arch_prctl" not in allowed(default(host=ARM64))
    assert "set_tls" in allowed(default(host=ARM64)) and "set_tls" not in allowed(default(host=AMD64))
    [clone] = rules_for(default(host=seccomp.Host("s390x", (6, 1))), "clone")
    assert clone["args"][0]["index"] == 1  # s390's argument order


def test_without_cap_sys_admin_clone_may_not_make_namespaces() -> None:
    s = default()
    [clone] = rules_for(s, "clone")
    assert clone["args"] == [{"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}]
    [clone3] = rules_for(s, "clone3")
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38  # ENOSYS: libc falls back to clone


def test_cap_sys_admin_includes_its_syscalls_and_excludes_the_clone_restriction() -> None:
    s = default(capabilities(["SYS_ADMIN"], []))
    ok = allowed(s)
    assert {"unshare", "mount", "umount2", "setns", "clone", "clone3", "sethostname"} <= ok
    assert all(not r.get("args") for r in rules_for(s, "clone"))
    assert all(r["action"] == "SCMP_ACT_ALLOW" for r in rules_for(s, "clone3"))


def test_capabilities_gate_their_syscalls() -> None:
    assert "chroot" in allowed(default())  # CAP_SYS_CHROOT is a default capability
    assert "chroot" not in allowed(default(capabilities([], ["SYS_CHROOT"])))
    for cap, call in (("SYS_TIME", "settimeofday"), ("SYS_PTRACE", "kcmp"), ("SYS_MODULE", "init_module")):
        assert call not in allowed(default())
        assert call in allowed(default(capabilities([cap], []))), cap
    everything = allowed(default(capabilities(["ALL"], [])))
    assert {"bpf", "perf_event_open", "reboot", "syslog", "iopl", "open_by_handle_at"} <= everything


def test_min_kernel_condition() -> None:
    assert "ptrace" in allowed(default(host=seccomp.Host("amd64", (4, 8))))
    assert "ptrace" not in allowed(default(host=seccomp.Host("amd64", (4, 4))))
    assert "ptrace" in allowed(default(capabilities(["SYS_PTRACE"], []), host=seccomp.Host("amd64", (4, 4))))
    assert seccomp.parse_release("6.1.0-18-amd64") == (6, 1)
    assert seccomp.parse_release("4.19.0+") == (4, 19)


def test_excludes_by_arch_and_kernel_in_a_custom_profile() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["a"], "action": "SCMP_ACT_ERRNO", "excludes": {"arches": ["arm64"]}},
            {"name": "b", "action": "SCMP_ACT_LOG", "excludes": {"minKernel": "5.0"}},
            {"names": ["c"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_NET_ADMIN", "CAP_CHOWN"]}},
        ],
    }
    cfg = pb.SeccompConfig(mode="custom", profile=json.dumps(profile))
    amd_old = seccomp.for_container(cfg, DEFAULT_CAPS, seccomp.Host("amd64", (4, 19)))
    assert amd_old is not None and [r["names"] for r in amd_old["syscalls"]] == [["a"], ["b"]]
    arm_new = seccomp.for_container(cfg, [*DEFAULT_CAPS, "CAP_NET_ADMIN"], ARM64)
    assert arm_new is not None and [r["names"] for r in arm_new["syscalls"]] == [["c"]]
    assert "architectures" not in arm_new and "defaultErrnoRet" not in arm_new


def test_unconfined_and_builtin() -> None:
    assert seccomp.for_container(pb.SeccompConfig(mode="unconfined"), DEFAULT_CAPS, AMD64) is None
    assert seccomp.for_container(pb.SeccompConfig(mode="default"), DEFAULT_CAPS, AMD64) == default()


def test_build_config_carries_the_section_and_apparmor_profile() -> None:
    b = ocispec.Bundle(
        args=["true"],
        env=[],
        cwd="/",
        uid=0,
        gid=0,
        additional_gids=[],
        hostname="h",
        rootfs="/r",
        read_only=False,
        capabilities=list(DEFAULT_CAPS),
        cgroups_path="/svc/x",
        netns_path=None,
    )
    cfg = ocispec.build_config(b)
    assert "seccomp" not in cfg["linux"] and "apparmorProfile" not in cfg["process"]
    b.seccomp = default()
    b.apparmor_profile = "docker-default"
    cfg = ocispec.build_config(b)
    assert cfg["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert cfg["process"]["apparmorProfile"] == "docker-default"


@pytest.mark.parametrize(
    "profile, message",
    [
        ("[]", "a profile is a JSON object"),
        ("{", "not JSON"),
        ("{}", "defaultAction must be one of"),
        ('{"defaultAction": "SCMP_ACT_NOTIFY"}', "SCMP_ACT_NOTIFY is not supported"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}', "defaultErrnoRet needs"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscals": []}', "unknown field 'syscals'"),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}', "unknown architecture"),
        (
            '{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "archMap": '
            '[{"architecture": "SCMP_ARCH_X86", "subArchitectures": []}]}',
            "not both",
        ),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}', "names no syscall"),
        (
            '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", '
            '"errnoRet": 1}]}',
            "errnoRet needs",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", '
            '"args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}',
            "index must be 0-5",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", '
            '"args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}',
            "unknown op",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", '
            '"includes": {"caps": ["CAP_SYS_ADMN"]}}]}',
            "CAP_SYS_ADMN",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", '
            '"excludes": {"minKernel": "4"}}]}',
            "minKernel",
        ),
        ('{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock"}', "listeners are not supported"),
    ],
)
def test_invalid_profiles_are_refused_with_one_line(profile: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid seccomp profile") as exc:
        seccompprofile.parse_profile(profile)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_oversized_profile_is_refused() -> None:
    text = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "comment": "x" * (300 << 10)})
    with pytest.raises(InvalidArgument, match="larger than"):
        seccompprofile.parse_profile(text)


def test_spec_validation_checks_the_seccomp_setting() -> None:
    validate(pb.ContainerSpec(image="busybox", seccomp=pb.SeccompConfig(mode="unconfined")))
    for cfg, message in (
        (pb.SeccompConfig(mode="permissive"), "unknown seccomp mode"),
        (pb.SeccompConfig(mode="custom"), "needs a profile"),
        (pb.SeccompConfig(mode="unconfined", profile="{}"), "use mode custom"),
        (pb.SeccompConfig(mode="custom", profile='{"defaultAction": 1}'), "defaultAction"),
    ):
        with pytest.raises(InvalidArgument, match=message):
            validate(pb.ContainerSpec(image="busybox", seccomp=cfg))
    # a service's template is refused by the manager with the same check (an API call without the CLI)
    bad = cpb.ServiceSpec(name="web", task=pb.ContainerSpec(image="busybox", seccomp=pb.SeccompConfig(mode="custom")))
    with pytest.raises(InvalidArgument, match="needs a profile"):
        servicespec.validate(bad)


def test_security_opt_parsing() -> None:
    files = {"/p.json": '{"defaultAction": "SCMP_ACT_LOG"}', "/bad.json": '{"defaultAction": "LOG"}'}
    parse = lambda *v: seccompprofile.from_security_opts(list(v), read=files.__getitem__)  # noqa: E731
    assert parse() is None
    assert parse("seccomp=unconfined") == pb.SeccompConfig(mode="unconfined")
    assert parse("seccomp=builtin") == pb.SeccompConfig()
    assert parse("seccomp=/p.json") == pb.SeccompConfig(mode="custom", profile=files["/p.json"])
    assert parse("seccomp=/p.json", "seccomp=unconfined") == pb.SeccompConfig(mode="unconfined")  # last wins
    with pytest.raises(InvalidArgument, match=r"invalid seccomp profile /bad\.json: defaultAction"):
        parse("seccomp=/bad.json")
    for opt in ("apparmor=unconfined", "label=disable", "seccomp", "seccomp=", "no-new-privileges"):
        with pytest.raises(InvalidArgument, match="unsupported security option"):
            parse(opt)
    with pytest.raises(InvalidArgument, match=r"cannot read seccomp profile /nonexistent/p\.json"):
        seccompprofile.from_security_opts(["seccomp=/nonexistent/p.json"])


def test_apparmor_detection(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    fs, param = tmp_path / "apparmor", tmp_path / "enabled"
    caplog.set_level(logging.INFO, logger="node.engine.apparmor")
    assert apparmor.container_profile(str(fs), str(param)) == ""  # neither exists: no AppArmor
    assert "not available" in caplog.text
    param.write_text("N\n")
    fs.mkdir()
    assert apparmor.container_profile(str(fs), str(param)) == ""
    param.write_text("Y\n")
    (fs / "profiles").write_text("lsb_release (enforce)\nnvidia_modprobe (enforce)\n")
    caplog.clear()
    assert apparmor.container_profile(str(fs), str(param)) == ""
    assert "not loaded" in caplog.text and len(caplog.records) == 1
    (fs / "profiles").write_text("docker-default (enforce)\n")
    assert apparmor.container_profile(str(fs), str(param)) == "docker-default"
