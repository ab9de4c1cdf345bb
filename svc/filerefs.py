"""Secrets and configs as files in a task (pure): names, sizes, `--secret`/`--config` options, targets.

The rules are docker's, shared by the CLI (a mistake is refused before anything is sent) and the
managers (which trust nothing the CLI says): names as swarmkit's, values larger than 0 and less
than 500 KB, a secret's target under /run/secrets/ unless absolute, a config's at /NAME, uid and
gid 0, mode 0444. References carry ids and options only, never a value.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING

from svc.errors import InvalidArgument

if TYPE_CHECKING:  # protobuf loads only when a reference is made: the CLI starts fast
    from svc.v1 import container_pb2 as pb

SECRET, CONFIG = "secret", "config"
KINDS = (SECRET, CONFIG)
MAX_SIZE = 500 * 1024  # swarmkit's MaxSecretSize (and configs')
MAX_NAME = 64
DEFAULT_MODE = 0o444
SECRETS_DIR = "/run/secrets"
FILTERS = ("id", "label", "name")
_NAME_RE = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")
_OPTIONS = ("source", "src", "target", "uid", "gid", "mode")


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidArgument(f"invalid kind {kind!r}: use secret or config")
    return kind


def check_name(kind: str, name: str) -> None:
    if not name or len(name) > MAX_NAME or not _NAME_RE.match(name):
        raise InvalidArgument(
            f"invalid {kind} name {name!r}: use letters, digits, '-', '_' and '.' (up to {MAX_NAME}), "
            "starting and ending with a letter or digit"
        )


def check_data(kind: str, data: bytes) -> None:
    if not data or len(data) >= MAX_SIZE:
        raise InvalidArgument(f"{kind} data must be larger than 0 and less than 500 KB (it is {len(data)} bytes)")


def parse_ref(kind: str, text: str) -> pb.FileReference:
    """`NAME` or `source=NAME,target=T,uid=U,gid=G,mode=0400` (docker's --secret/--config)."""
    from svc.v1 import container_pb2 as pb

    ref = pb.FileReference(mode=DEFAULT_MODE)
    if "=" not in text:
        ref.name = text
    else:
        for item in text.split(","):
            key, eq, value = item.partition("=")
            key = key.strip().lower()
            if not eq or key not in _OPTIONS:
                raise InvalidArgument(
                    f"invalid --{kind} option {item!r}: use source=NAME,target=PATH,uid=N,gid=N,mode=0NNN"
                )
            if key in ("source", "src"):
                ref.name = value
            elif key == "target":
                ref.target = value
            elif key == "mode":
                try:
                    ref.mode = int(value, 8)
                except ValueError:
                    raise InvalidArgument(f"invalid --{kind} mode {value!r}: give octal bits, e.g. 0400") from None
            else:
                if not value.isdigit():
                    raise InvalidArgument(f"invalid --{kind} {key} {value!r}: give a number")
                setattr(ref, key, int(value))
    if not ref.name:
        raise InvalidArgument(f"--{kind} {text!r} names no {kind}: give source=NAME")
    check_name(kind, ref.name)
    return normalize(kind, ref)


def normalize(kind: str, ref: pb.FileReference) -> pb.FileReference:
    """Fill docker's default target and check the options; the reference, changed in place."""
    target = ref.target or ref.name
    if not target.startswith("/"):
        target = posixpath.join(SECRETS_DIR if kind == SECRET else "/", target)
    if ".." in target.split("/") or target.endswith("/") or posixpath.normpath(target) in ("/", SECRETS_DIR):
        raise InvalidArgument(f"invalid {kind} target {ref.target or ref.name!r}: give a file path")
    ref.target = posixpath.normpath(target)
    if ref.mode > 0o7777:
        raise InvalidArgument(f"invalid {kind} mode {oct(ref.mode)}: at most 07777")
    return ref


def check_refs(secrets: list[pb.FileReference], configs: list[pb.FileReference]) -> None:
    """No two files of a task at one target."""
    seen: set[str] = set()
    for ref in [*secrets, *configs]:
        if ref.target in seen:
            raise InvalidArgument(f"two secrets or configs have the target {ref.target}: give each its own")
        seen.add(ref.target)


def update_refs(kind: str, refs: list[pb.FileReference], add: list[str], remove: list[str]) -> list[pb.FileReference]:
    """`--secret-add/--secret-rm` (by name or target), docker's order: removals first."""
    kept = []
    for ref in refs:
        if ref.name in remove or ref.target in remove:
            continue
        kept.append(ref)
    missing = [r for r in remove if not any(r in (x.name, x.target) for x in refs)]
    if missing:
        raise InvalidArgument(f"--{kind}-rm: the service has no {kind} {', '.join(missing)}")
    added = [parse_ref(kind, text) for text in add]
    kept = [r for r in kept if all(r.target != a.target for a in added)]
    return kept + added
