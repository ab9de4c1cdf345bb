"""Seccomp profiles in Docker's format and `--security-opt seccomp=...`, checked without a host.

The CLI reads `seccomp=FILE` itself and puts the profile's text in the ContainerSpec, so a service's
profile travels with its spec to every node. The same checks run in the CLI, in the managers
(`containerspec.validate`) and in the engine, so a bad profile is refused at `svc create` or
`svc container run` with one line, before anything is made. Which rules apply to one container on one
host (architecture, kernel, capabilities) is decided by node/engine/seccomp.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from svc import defaults
from svc.errors import InvalidArgument
from svc.v1 import container_pb2 as pb

MODES = ("", "default", "unconfined", "custom")
UNCONFINED = "unconfined"
BUILTIN = "builtin"  # Docker's name for its default profile in --security-opt seccomp=builtin

ACTIONS = (
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
)
ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")  # the actions runc lets carry an errno
OPS = (
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)
ARCHES = (
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
)
FLAGS = (
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
)
_PROFILE_KEYS = {"comment", "defaultAction", "defaultErrnoRet", "architectures", "archMap", "flags", "syscalls"}
_RULE_KEYS = {"comment", "name", "names", "action", "errnoRet", "args", "includes", "excludes"}
_ARG_KEYS = {"index", "value", "valueTwo", "op"}
_FILTER_KEYS = {"caps", "arches", "minKernel"}
_KERNEL_RE = re.compile(r"^(\d{1,3})\.(\d{1,3})$")
_U64 = (1 << 64) - 1


class _Bad(Exception):
    pass


def _need(ok: bool, why: str) -> None:
    if not ok:
        raise _Bad(why)


def _str_list(value: Any, what: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    _need(isinstance(value, list) and all(isinstance(v, str) and v for v in value), f"{what} must be a list of names")
    if allowed is not None:
        for v in value:
            _need(v in allowed, f"unknown {what[:-1] if what.endswith('s') else what} {v!r}")
    return list(value)


def _uint(value: Any, what: str, limit: int = _U64) -> int:
    _need(isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit, f"{what} must be 0-{limit}")
    return int(value)


def _keys(obj: Any, allowed: set[str], what: str) -> dict[str, Any]:
    _need(isinstance(obj, dict), f"{what} must be a JSON object")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _Bad(f"unknown field {unknown[0]!r} in {what}")
    return dict(obj)


def parse_kernel(value: Any) -> tuple[int, int]:
    """Docker's minKernel, "<kernel>.<major>" (e.g. "4.8"), as a tuple; InvalidArgument if malformed."""
    m = _KERNEL_RE.match(value) if isinstance(value, str) else None
    if m is None or (int(m[1]), int(m[2])) == (0, 0):
        raise InvalidArgument(f'invalid seccomp profile: minKernel {value!r} is not "<kernel>.<major>"')
    return int(m[1]), int(m[2])


def _filter(obj: Any, what: str) -> None:
    from svc.containerspec import ALL_CAPS

    f = _keys(obj, _FILTER_KEYS, what)
    if "caps" in f:
        _str_list(f["caps"], f"{what} caps", ALL_CAPS)
    if "arches" in f:
        _str_list(f["arches"], f"{what} arches")
    if "minKernel" in f:
        try:
            parse_kernel(f["minKernel"])
        except InvalidArgument as exc:
            raise _Bad(exc.message.removeprefix("invalid seccomp profile: ")) from None


def _rule(obj: Any, n: int) -> None:
    what = f"syscalls[{n}]"
    r = _keys(obj, _RULE_KEYS, what)
    _need(not ("name" in r and "names" in r), f"{what} has both name and names")
    names = [r["name"]] if "name" in r else r.get("names")
    _need(bool(names), f"{what} names no syscall")
    _str_list(names, f"{what} names")
    action = r.get("action")
    _need(action != "SCMP_ACT_NOTIFY", "SCMP_ACT_NOTIFY is not supported")
    _need(action in ACTIONS, f"{what} has unknown action {action!r}")
    if "errnoRet" in r:
        _need(action in ERRNO_ACTIONS, f"{what}: errnoRet needs SCMP_ACT_ERRNO or SCMP_ACT_TRACE")
        _uint(r["errnoRet"], f"{what} errnoRet", 4095)
    args = r.get("args") or []
    _need(isinstance(args, list) and len(args) <= 6, f"{what} args must be a list of at most 6")
    for i, a in enumerate(args):
        arg = _keys(a, _ARG_KEYS, f"{what} args[{i}]")
        _uint(arg.get("index"), f"{what} args[{i}] index", 5)
        _uint(arg.get("value", 0), f"{what} args[{i}] value")
        _uint(arg.get("valueTwo", 0), f"{what} args[{i}] valueTwo")
        _need(arg.get("op") in OPS, f"{what} args[{i}] has unknown op {arg.get('op')!r}")
    for key in ("includes", "excludes"):
        if r.get(key) is not None:
            _filter(r[key], f"{what} {key}")


def _check(p: Any) -> None:
    _need(isinstance(p, dict), "a profile is a JSON object")
    _keys(p, _PROFILE_KEYS | {"listenerPath", "listenerMetadata"}, "the profile")
    _need("listenerPath" not in p and "listenerMetadata" not in p, "seccomp notify listeners are not supported")
    action = p.get("defaultAction")
    _need(action != "SCMP_ACT_NOTIFY", "SCMP_ACT_NOTIFY is not supported")
    _need(action in ACTIONS, f"defaultAction must be one of {', '.join(ACTIONS)}")
    if "defaultErrnoRet" in p:
        _need(action in ERRNO_ACTIONS, "defaultErrnoRet needs defaultAction SCMP_ACT_ERRNO or SCMP_ACT_TRACE")
        _uint(p["defaultErrnoRet"], "defaultErrnoRet", 4095)
    _need(not (p.get("architectures") and p.get("archMap")), "give architectures or archMap, not both")
    if p.get("architectures") is not None:
        _str_list(p["architectures"], "architectures", ARCHES)
    if p.get("archMap") is not None:
        _need(isinstance(p["archMap"], list), "archMap must be a list")
        for i, entry in enumerate(p["archMap"]):
            e = _keys(entry, {"architecture", "subArchitectures"}, f"archMap[{i}]")
            _need(e.get("architecture") in ARCHES, f"archMap[{i}] has unknown architecture {e.get('architecture')!r}")
            _str_list(e.get("subArchitectures") or [], f"archMap[{i}] subArchitectures", ARCHES)
    if p.get("flags") is not None:
        _str_list(p["flags"], "flags", FLAGS)
    rules = p.get("syscalls") or []
    _need(isinstance(rules, list), "syscalls must be a list")
    for n, rule in enumerate(rules):
        _rule(rule, n)


def parse_profile(text: str, source: str = "") -> dict[str, Any]:
    """A profile's JSON text, checked; InvalidArgument (one line, naming `source`) if it is not one."""
    where = f" {source}" if source else ""
    if len(text.encode()) > defaults.SECCOMP_PROFILE_MAX_BYTES:
        raise InvalidArgument(f"seccomp profile{where} is larger than {defaults.SECCOMP_PROFILE_MAX_BYTES} bytes")
    try:
        profile = json.loads(text)
        _check(profile)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"invalid seccomp profile{where}: not JSON: {exc}") from None
    except (_Bad, RecursionError) as exc:
        raise InvalidArgument(f"invalid seccomp profile{where}: {exc}") from None
    return dict(profile)


def validate(cfg: pb.SeccompConfig) -> None:
    """The spec's seccomp setting on its own: a known mode, and a valid profile when custom."""
    if cfg.mode not in MODES:
        raise InvalidArgument(f"unknown seccomp mode {cfg.mode!r}: use default, unconfined or custom")
    if cfg.mode == "custom":
        if not cfg.profile:
            raise InvalidArgument("seccomp mode custom needs a profile")
        parse_profile(cfg.profile)
    elif cfg.profile:
        raise InvalidArgument(f"a seccomp profile is given with mode {cfg.mode or 'default'!r}: use mode custom")


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(defaults.SECCOMP_PROFILE_MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidArgument(f"cannot read seccomp profile {path}: {exc.strerror or exc}") from None
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise InvalidArgument(f"invalid seccomp profile {path}: not UTF-8 text") from None


def from_security_opts(values: list[str], read: Callable[[str], str] = _read) -> pb.SeccompConfig | None:
    """`--security-opt` values (Docker's syntax) as the spec's seccomp setting; None = none given.

    `seccomp=unconfined` runs without a filter, `seccomp=builtin` with Docker's default profile
    (as with no option), `seccomp=FILE` with the profile in FILE, read and checked here.
    """
    cfg: pb.SeccompConfig | None = None
    for value in values:
        key, sep, arg = value.partition("=")
        if key.strip() != "seccomp" or not sep or not arg:
            raise InvalidArgument(f"unsupported security option {value!r}: use seccomp=unconfined or seccomp=FILE")
        if arg == UNCONFINED:
            cfg = pb.SeccompConfig(mode=UNCONFINED)
        elif arg == BUILTIN:
            cfg = pb.SeccompConfig()
        else:
            text = read(arg)
            parse_profile(text, arg)
            cfg = pb.SeccompConfig(mode="custom", profile=text)
    return cfg
