"""Compose files read as `docker stack deploy` reads them (pure but for reading the files).

Rule: each file is parsed (PyYAML, safe loader, size and expansion bounded), interpolated
(`${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:?err}`, `${VAR?err}`, `$$`; the environment over a
`.env` beside the first file) and validated against compose-schema.json on its own, so an error
names its file; then the files are merged in order. Keys docker ignores in swarm mode are warned
about as docker does; keys svc does not map are refused. yaml and jsonschema load only here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from svc.errors import InvalidArgument

MAX_FILE = 1024 * 1024  # a compose file larger than this is refused unread
MAX_NODES = 200_000  # values visited after YAML aliases are expanded (an alias bomb stops here)

# docker's convert.go: warned "Ignoring unsupported options", and its deprecated ones.
IGNORED = (
    "build", "cgroupns_mode", "cgroup_parent", "devices", "domainname", "external_links", "ipc", "links",
    "mac_address", "network_mode", "pid", "privileged", "restart", "security_opt", "shm_size", "userns_mode",
)  # fmt: skip
DEPRECATED = ("container_name", "expose")
DROPPED: tuple[str, ...] = ()  # keys docker drops silently that svc drops too (depends_on is honoured)
# compose keys docker knows that svc does not map: refused with their name (docs/stacks.md).
NOT_MAPPED = (
    "dns", "dns_search", "logging", "tty", "stdin_open",
    "window", "generic_resources", "credential_spec",
    "isolation", "extends", "volume_driver", "volumes_from", "cpu_quota", "cpu_shares",
    "cpuset", "mem_limit", "memswap_limit", "ipam", "template_driver", "driver_opts", "nocopy", "bind",
    "consistency",
)  # fmt: skip

# Paths whose values, when a whole string came from a variable, are cast as docker's loader does.
_INT_PATHS = (
    ("services", "*", "deploy", "replicas"),
    ("services", "*", "deploy", "restart_policy", "max_attempts"),
    ("services", "*", "deploy", "placement", "max_replicas_per_node"),
    ("services", "*", "deploy", "update_config", "parallelism"),
    ("services", "*", "deploy", "rollback_config", "parallelism"),
    ("services", "*", "deploy", "resources", "limits", "pids"),
    ("services", "*", "healthcheck", "retries"),
    ("services", "*", "ports", "*", "target"),
    ("services", "*", "ports", "*", "published"),
    ("services", "*", "ulimits", "*"),
    ("services", "*", "ulimits", "*", "soft"),
    ("services", "*", "ulimits", "*", "hard"),
)
_BOOL_PATHS = (
    ("services", "*", "read_only"),
    ("services", "*", "init"),
    ("services", "*", "healthcheck", "disable"),
    ("networks", "*", "external"),
    ("networks", "*", "attachable"),
    ("networks", "*", "internal"),
    ("secrets", "*", "external"),
    ("configs", "*", "external"),
)

_VAR = re.compile(r"\$(?:(?P<esc>\$)|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)|\{(?P<braced>[^}]*)\}|(?P<bad>))")
_BRACED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>.*))?$", re.S)


def dotted(path: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in path)


# ----- YAML -----


_INT = r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"
_FLOAT = (
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_loader: Any = None


def _yaml_loader() -> Any:
    """PyYAML's safe loader without YAML 1.1's base-60 numbers: `- 22:22` stays the string a port
    spec is (YAML 1.2, and compose's own loader, read it so)."""
    global _loader
    if _loader is None:
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        numbers = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
        Loader.yaml_implicit_resolvers = {
            k: [(tag, rx) for tag, rx in v if tag not in numbers]
            for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }
        Loader.add_implicit_resolver(numbers[0], re.compile(_INT), list("-+0123456789"))
        Loader.add_implicit_resolver(numbers[1], re.compile(_FLOAT), list("-+0123456789."))
        _loader = Loader
    return _loader


def parse_yaml(text: str, source: str) -> Any:
    """The document of one file; an error names the file and the line."""
    import yaml

    try:
        doc = yaml.load(text, Loader=_yaml_loader())  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidArgument(f"{source}:{where} not a valid YAML file: {problem}") from None
    _bounded(doc, source)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{source}: top-level object must be a mapping")
    for key in doc:
        if not isinstance(key, str):
            raise InvalidArgument(f"{source}: non-string key at top level: {key!r}")
    return doc


def _bounded(doc: Any, source: str) -> None:
    """Refuse a document whose values, counted as every alias repeats them, exceed MAX_NODES."""
    count, stack = 0, [doc]
    while stack:
        v = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise InvalidArgument(f"{source}: too many values (more than {MAX_NODES} after YAML aliases are expanded)")
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def read_file(path: str) -> str:
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE:
            raise InvalidArgument(f"{path}: too large ({size} bytes; a compose file may have {MAX_FILE})")
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise InvalidArgument(f"no such compose file: {path}") from None
    except UnicodeDecodeError:
        raise InvalidArgument(f"{path}: not a valid YAML file: not UTF-8 text") from None
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror}") from None


# ----- interpolation -----


def dotenv(path: str) -> dict[str, str]:
    """`.env` beside the compose file (KEY=VALUE lines, `#` comments, optional quotes); {} if none."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    out: dict[str, str] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", key):
            raise InvalidArgument(f"{path}:{number}: use KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out


def interpolate_string(text: str, env: Mapping[str, str], where: str, warn: Callable[[str], None]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group("esc"):
            return "$"
        if m.group("bad") is not None:
            raise InvalidArgument(f"invalid interpolation format for {where}: {text!r} (use $$ for a literal $)")
        name = m.group("bare")
        op = arg = None
        if name is None:
            b = _BRACED.match(m.group("braced"))
            if b is None:
                raise InvalidArgument(f"invalid interpolation format for {where}: {text!r}")
            name, op, arg = b.group("name"), b.group("op"), b.group("arg")
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return interpolate_string(arg or "", env, where, warn)
            return value
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise InvalidArgument(f"required variable {name} is missing a value: {arg or name} (in {where})")
            return value
        if value is None:
            warn(f'The "{name}" variable is not set. Defaulting to a blank string.')
            return ""
        return value

    return _VAR.sub(sub, text)


def _matches(path: tuple[Any, ...], patterns: tuple[tuple[str, ...], ...]) -> bool:
    return any(
        len(p) == len(path) and all(a == "*" or a == str(b) for a, b in zip(p, path, strict=True)) for p in patterns
    )


def _cast(value: str, path: tuple[Any, ...]) -> Any:
    if _matches(path, _INT_PATHS) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if _matches(path, _BOOL_PATHS) and value.strip().lower() in ("true", "false", "yes", "no", "y", "n", "on", "off"):
        return value.strip().lower() in ("true", "yes", "y", "on")
    return value


def interpolate(doc: Any, env: Mapping[str, str], warn: Callable[[str], None], path: tuple[Any, ...] = ()) -> Any:
    """Every string value (never a key) with its variables substituted."""
    if isinstance(doc, dict):
        return {k: interpolate(v, env, warn, (*path, k)) for k, v in doc.items()}
    if isinstance(doc, list):
        return [interpolate(v, env, warn, (*path, i)) for i, v in enumerate(doc)]
    if isinstance(doc, str) and "$" in doc:
        return _cast(interpolate_string(doc, env, dotted(path), warn), path)
    return doc


# ----- schema -----

_schema: dict[str, Any] | None = None


def schema() -> dict[str, Any]:
    global _schema
    if _schema is None:
        with open(os.path.join(os.path.dirname(__file__), "compose-schema.json"), encoding="utf-8") as f:
            _schema = json.load(f)
    return _schema


def _unexpected(error: Any) -> list[str]:
    known = set(error.schema.get("properties", {}))
    patterns = list(error.schema.get("patternProperties", {}))
    return [k for k in error.instance if k not in known and not any(re.search(p, str(k)) for p in patterns)]


def _message(error: Any) -> str:
    path = dotted(list(error.absolute_path))
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        keys = _unexpected(error)
        key = keys[0] if keys else "?"
        full = f"{path}.{key}" if path else str(key)
        if str(key) in NOT_MAPPED:
            return f"{full}: not supported by svc stack deploy (see docs/stacks.md)"
        return f"unknown key {full}"
    where = path or "the top level"
    if error.validator == "type":
        types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"{where} must be {' or '.join(types)} (got {error.instance!r})"
    if error.validator == "enum":
        return f"{where} must be one of {', '.join(map(str, error.validator_value))} (got {error.instance!r})"
    if error.validator in ("minimum", "maximum"):
        return f"{where} must be {'at least' if error.validator == 'minimum' else 'at most'} {error.validator_value}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator == "oneOf":
        return f"{where} has the wrong form (got {error.instance!r})"
    return f"{where}: {error.message}"


def validate(doc: dict[str, Any], source: str) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        raise InvalidArgument(f"{source}: {_message(error)}")


def warnings_for(doc: dict[str, Any]) -> list[str]:
    """docker's lines for the keys it ignores in swarm mode."""
    out = []
    services = doc.get("services") or {}
    for group, text in (
        (IGNORED, "Ignoring unsupported options"),
        (DEPRECATED, "Ignoring deprecated options"),
        (DROPPED, "Ignoring options svc does not honour in a stack"),
    ):
        found = sorted({k for s in services.values() if isinstance(s, dict) for k in s if k in group})
        if found:
            out.append(f"{text}: {', '.join(found)}")
    return out


# ----- merge -----

_MAP_KEYS = ("environment", "labels")


def as_map(value: Any) -> dict[str, Any]:
    """`environment`/`labels` in either form as a mapping (a bare KEY in a list is None)."""
    if isinstance(value, dict):
        return dict(value)
    out: dict[str, Any] = {}
    for item in value or []:
        key, sep, v = str(item).partition("=")
        out[key] = v if sep else None
    return out


def _merge_refs(base: list[Any], over: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    merged = {key(v): v for v in base}
    merged.update({key(v): v for v in over})
    return list(merged.values())


def _ref_key(v: Any) -> Any:
    return v if isinstance(v, str) else v.get("source")


def _port_key(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, dict) else str(v)


def _networks_map(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {n: None for n in value or []}


def merge_service(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """docker's rules: mappings merged key by key, environment and labels as mappings, networks by
    name, secrets and configs by source, ports by value; other lists and scalars replaced."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if key in _MAP_KEYS and old is not None:
            out[key] = {**as_map(old), **as_map(value)}
        elif key == "networks" and old is not None:
            out[key] = {**_networks_map(old), **_networks_map(value)}
        elif key in ("secrets", "configs") and isinstance(old, list) and isinstance(value, list):
            out[key] = _merge_refs(old, value, _ref_key)
        elif key == "ports" and isinstance(old, list) and isinstance(value, list):
            out[key] = _merge_refs(old, value, _port_key)
        elif key == "deploy" and isinstance(old, dict) and isinstance(value, dict):
            out[key] = _deep(old, value, labels=True)
        elif isinstance(old, dict) and isinstance(value, dict):
            out[key] = _deep(old, value)
        else:
            out[key] = value
    return out


def _deep(base: dict[str, Any], over: dict[str, Any], labels: bool = False) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if labels and key == "labels" and old is not None:
            out[key] = {**as_map(old), **as_map(value)}
        elif isinstance(old, dict) and isinstance(value, dict):
            out[key] = _deep(old, value)
        else:
            out[key] = value
    return out


def merge(docs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for doc in docs:
        for key, value in doc.items():
            if key == "services":
                services = dict(out.get("services") or {})
                for name, svc in (value or {}).items():
                    svc = svc or {}
                    services[name] = merge_service(services[name], svc) if name in services else dict(svc)
                out["services"] = services
            elif key in ("networks", "volumes", "secrets", "configs"):
                out[key] = {**(out.get(key) or {}), **(value or {})}
            else:
                out[key] = value
    return out


# ----- the whole load -----


def load(paths: list[str], environ: Mapping[str, str], warn: Callable[[str], None]) -> dict[str, Any]:
    """Read, interpolate, validate and merge the `-c` files in order; warnings through `warn`."""
    if not paths:
        raise InvalidArgument("give a compose file with -c/--compose-file")
    env = {**dotenv(os.path.join(os.path.dirname(os.path.abspath(paths[0])), ".env")), **environ}
    docs = []
    for path in paths:
        doc = parse_yaml(read_file(path), path)
        doc = interpolate(doc, env, warn)
        validate(doc, path)
        docs.append(doc)
    merged = merge(docs)
    for line in warnings_for(merged):
        warn(line)
    return merged
