"""Engine records -> wire messages (the engine itself speaks dataclasses, not protobuf, except ContainerSpec)."""

from __future__ import annotations

from svc.v1 import container_pb2 as pb
from svc.v1 import engine_pb2 as epb

from .cgroups import Usage
from .container import Container
from .images import ImageRecord


def container_info(c: Container) -> pb.ContainerInfo:
    return pb.ContainerInfo(
        id=c.id,
        name=c.name,
        image=c.image,
        image_id=c.image_id,
        state=c.state,
        created_at=c.created_at,
        started_at=c.started_at,
        finished_at=c.finished_at,
        exit_code=c.exit_code,
        oom_killed=c.oom_killed,
        pid=c.pid,
        ip_address=c.ip,
        health=pb.Health(
            status=c.health.status,
            failing_streak=c.health.failing_streak,
            log=[
                pb.HealthProbe(start=p.start, end=p.end, exit_code=p.exit_code, output=p.output) for p in c.health.log
            ],
        ),
        spec=c.spec,
        command=c.command,
        runtime=c.runtime,
        error=c.error,
        labels=dict(c.spec.labels),
    )


def container_stats(c: Container, u: Usage) -> pb.ContainerStats:
    return pb.ContainerStats(
        id=c.id,
        cpu_seconds=u.cpu_seconds,
        memory_bytes=u.memory_bytes,
        memory_limit_bytes=u.memory_limit_bytes,
        pids=u.pids,
    )


def image_info(rec: ImageRecord, config_json: bytes = b"") -> epb.ImageInfo:
    from .imageconfig import parse_image_config

    cfg = parse_image_config(config_json) if config_json else None
    return epb.ImageInfo(
        id=rec.id,
        tags=list(rec.tags),
        size_bytes=rec.size,
        created_at=rec.created,
        architecture=cfg.architecture if cfg else "",
        os=cfg.os if cfg else "",
        layers=list(rec.layers),
        config_json=config_json.decode("utf-8", "replace"),
        repo_digests=list(rec.repo_digests),
    )
