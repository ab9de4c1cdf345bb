"""Validate a ContainerSpec and resolve it against its image config: what will run, as whom, how.

Pure functions with Docker's precedence rules, so they are tested without a runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

from svc import defaults
from svc.containerspec import DEFAULT_PATH, capabilities, env_key, validate
from svc.errors import InvalidArgument
from svc.units import parse_signal
from svc.v1 import container_pb2 as pb

from .imageconfig import ImageConfig


@dataclass(frozen=True)
class HealthCheck:
    argv: tuple[str, ...]  # what to exec in the container
    interval: float
    timeout: float
    retries: int
    start_period: float


@dataclass(frozen=True)
class Resolved:
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: str
    hostname: str
    network: str
    stop_signal: int
    stop_grace: float
    healthcheck: HealthCheck | None
    capabilities: tuple[str, ...]


def _merge_env(image_env: tuple[str, ...], env: list[str]) -> tuple[str, ...]:
    merged: dict[str, str] = {}
    for item in (*image_env, *env):
        merged[env_key(item)] = item
    if "PATH" not in merged:
        merged["PATH"] = DEFAULT_PATH
    return tuple(merged.values())


def _healthcheck(spec: pb.ContainerSpec, image: ImageConfig) -> HealthCheck | None:
    if spec.no_healthcheck:
        return None
    if spec.HasField("healthcheck") and spec.healthcheck.test:
        hc = spec.healthcheck
        test, interval, timeout = tuple(hc.test), hc.interval_seconds, hc.timeout_seconds
        retries, start = hc.retries, hc.start_period_seconds
    elif image.healthcheck is not None:
        ih = image.healthcheck
        test, interval, timeout, retries, start = ih.test, ih.interval, ih.timeout, ih.retries, ih.start_period
        if spec.HasField("healthcheck"):  # per-container timing overrides the image's
            hc = spec.healthcheck
            interval = hc.interval_seconds or interval
            timeout = hc.timeout_seconds or timeout
            retries = hc.retries or retries
            start = hc.start_period_seconds or start
    else:
        return None
    kind, rest = test[0], test[1:]
    if kind == "NONE":
        return None
    if kind == "CMD-SHELL":
        if len(rest) != 1 or not rest[0]:
            raise InvalidArgument("health check CMD-SHELL takes exactly one command string")
        argv: tuple[str, ...] = ("/bin/sh", "-c", rest[0])
    elif kind == "CMD":
        if not rest:
            raise InvalidArgument("health check CMD needs a command")
        argv = rest
    else:
        raise InvalidArgument(f"health check test must start with NONE, CMD or CMD-SHELL, not {kind!r}")
    for value, what in ((interval, "interval"), (timeout, "timeout"), (start, "start period")):
        if value < 0:
            raise InvalidArgument(f"health check {what} must not be negative")
    return HealthCheck(
        argv=argv,
        interval=interval or defaults.HEALTH_INTERVAL_SECONDS,
        timeout=timeout or defaults.HEALTH_TIMEOUT_SECONDS,
        retries=retries or defaults.HEALTH_RETRIES,
        start_period=start or defaults.HEALTH_START_PERIOD_SECONDS,
    )


def resolve(spec: pb.ContainerSpec, image: ImageConfig, container_id: str) -> Resolved:
    """What the container runs: Docker's rules for entrypoint, cmd, env, user and the rest."""
    validate(spec)
    args = (*spec.entrypoint, *spec.cmd) if spec.entrypoint else (*image.entrypoint, *(spec.cmd or image.cmd))
    if not args or not args[0]:
        raise InvalidArgument("no command specified: the image has no Cmd or Entrypoint; give one")
    workdir = spec.workdir or image.workdir or "/"
    if not workdir.startswith("/"):
        workdir = "/" + workdir
    network = spec.network or "bridge"
    return Resolved(
        args=tuple(args),
        env=_merge_env(image.env, list(spec.env)),
        cwd=workdir,
        user=spec.user or image.user,
        hostname=spec.hostname or container_id[:12],
        network=network,
        stop_signal=parse_signal(spec.stop_signal or image.stop_signal or defaults.STOP_SIGNAL),
        stop_grace=spec.stop_grace_seconds or defaults.STOP_GRACE_SECONDS,
        healthcheck=_healthcheck(spec, image),
        capabilities=capabilities(list(spec.cap_add), list(spec.cap_drop)),
    )
