"""The engine's local gRPC API (svc.v1.Engine), served by `svcd node` on a root-only unix socket."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc

from svc.aioutil import iterate_in_thread
from svc.errors import InvalidArgument
from svc.rpc import handler
from svc.v1 import common_pb2 as cpb
from svc.v1 import container_pb2 as pb
from svc.v1 import engine_pb2 as epb
from svc.v1 import engine_pb2_grpc as epb_grpc

from .convert import container_info, container_stats, image_info
from .engine import Engine
from .volumeapi import VolumeView

if TYPE_CHECKING:
    from .registry.pull import Progress


def volume_info(view: VolumeView) -> epb.VolumeInfo:
    v = view.volume
    return epb.VolumeInfo(
        name=v.name,
        driver=v.driver,
        mountpoint=v.mountpoint,
        labels=v.labels,
        created_at=v.created_at,
        containers=view.containers,
    )


class EngineService(epb_grpc.EngineServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def _call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        return await asyncio.to_thread(fn, *args, **kwargs)

    @handler
    async def CreateContainer(self, request: epb.CreateContainerRequest, context) -> pb.ContainerInfo:
        return container_info(await self._call(self.engine.create, request.spec, request.name))

    @handler
    async def StartContainer(self, request: epb.ContainerRef, context) -> pb.ContainerInfo:
        return container_info(await self._call(self.engine.start, request.id))

    @handler
    async def StopContainer(self, request: epb.StopContainerRequest, context) -> pb.ContainerInfo:
        grace = request.grace_seconds if request.HasField("grace_seconds") else None
        return container_info(await self._call(self.engine.stop, request.id, grace))

    @handler
    async def KillContainer(self, request: epb.KillContainerRequest, context) -> pb.ContainerInfo:
        return container_info(await self._call(self.engine.kill, request.id, request.signal or "SIGKILL"))

    @handler
    async def RemoveContainer(self, request: epb.RemoveContainerRequest, context) -> cpb.Empty:
        await self._call(self.engine.remove, request.id, request.force)
        return cpb.Empty()

    @handler
    async def ListContainers(self, request: epb.ListContainersRequest, context) -> epb.ListContainersResponse:
        items = await self._call(self.engine.containers, request.all)
        return epb.ListContainersResponse(containers=[container_info(c) for c in items])

    @handler
    async def InspectContainer(self, request: epb.ContainerRef, context) -> pb.ContainerInfo:
        return container_info(await self._call(self.engine.get, request.id))

    @handler
    async def WaitContainer(self, request: epb.ContainerRef, context) -> pb.ContainerInfo:
        return container_info(await self._call(self.engine.wait, request.id))

    @handler
    async def ContainerLogs(self, request: epb.LogsRequest, context) -> AsyncIterator[epb.LogLine]:
        self.engine.get(request.id)  # NotFound before the stream starts

        def entries(stop):  # type: ignore[no-untyped-def]
            return self.engine.logs(request.id, request.follow, request.tail, stop=stop)

        async for entry in iterate_in_thread(entries):
            yield epb.LogLine(time=entry.time, stream=entry.stream, data=entry.data)

    @handler
    async def Exec(self, request: epb.ExecRequest, context) -> epb.ExecResponse:
        timeout = request.timeout_seconds or None
        code, out, err = await self._call(self.engine.exec, request.id, list(request.cmd), list(request.env), timeout)
        return epb.ExecResponse(exit_code=code, stdout=out, stderr=err)

    @handler
    async def Stats(self, request: epb.ListContainersRequest, context) -> epb.StatsResponse:
        import psutil

        items = await self._call(self.engine.stats, list(request.ids) or None)
        vm = psutil.virtual_memory()
        host = epb.HostStats(
            cpu_percent=psutil.cpu_percent(interval=None),
            memory_total_bytes=vm.total,
            memory_available_bytes=vm.available,
            cpus=psutil.cpu_count() or 1,
        )
        return epb.StatsResponse(containers=[container_stats(c, u) for c, u in items], host=host)

    @handler
    async def ImportImage(self, request_iterator, context) -> epb.ImageInfo:
        tmp_dir = os.path.join(self.engine.images.root, "tmp")
        fd, path = tempfile.mkstemp(dir=tmp_dir, suffix=".import")
        reference = ""
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in request_iterator:
                    reference = reference or chunk.reference
                    f.write(chunk.data)
            if os.path.getsize(path) == 0:
                raise InvalidArgument("the image archive is empty")
            records = await self._call(self.engine.import_image, path, reference)
        finally:
            os.unlink(path)
        first = records[0]
        return image_info(first, self.engine.images.config_bytes(first.id))

    @handler
    async def ListImages(self, request: cpb.Empty, context) -> epb.ListImagesResponse:
        return epb.ListImagesResponse(images=[image_info(r) for r in self.engine.images.records()])

    @handler
    async def InspectImage(self, request: epb.ImageRef, context) -> epb.ImageInfo:
        rec = self.engine.images.resolve(request.reference)
        return image_info(rec, self.engine.images.config_bytes(rec.id))

    @handler
    async def RemoveImage(self, request: epb.RemoveImageRequest, context) -> cpb.Empty:
        await self._call(self.engine.remove_image, request.reference, request.force)
        return cpb.Empty()

    @handler
    async def PruneImages(self, request: epb.PruneImagesRequest, context) -> epb.PruneImagesResponse:
        pruned = await self._call(self.engine.prune_images, request.all)
        items = [
            epb.PrunedImage(untagged=n) if k == "untagged" else epb.PrunedImage(deleted=n) for k, n in pruned.items
        ]
        return epb.PruneImagesResponse(images=items, reclaimed_bytes=pruned.reclaimed)

    @handler
    async def PullImage(self, request: epb.PullImageRequest, context) -> AsyncIterator[epb.PullProgress]:
        from .pulling import pull_progress

        if not request.reference:
            raise InvalidArgument("pull needs an image reference")
        creds = (request.username, request.password) if request.username else None

        def progress(stop):  # type: ignore[no-untyped-def]
            return pull_progress(self.engine, request.reference, request.platform, creds)

        async for p in iterate_in_thread(progress):
            yield _progress_message(p)

    @handler
    async def TagImage(self, request: epb.TagImageRequest, context) -> epb.ImageInfo:
        from .registry import push

        rec = await self._call(push.tag, self.engine.images, request.source, request.target)
        return image_info(rec, self.engine.images.config_bytes(rec.id))

    @handler
    async def PushImage(self, request: epb.PushImageRequest, context) -> AsyncIterator[epb.PullProgress]:
        from .pulling import push_progress
        from .registry import push

        if not request.reference:
            raise InvalidArgument("push needs an image reference")
        creds = (request.username, request.password) if request.username else None
        push.local_image(self.engine.images, request.reference)  # NotFound before the stream starts

        def progress(stop):  # type: ignore[no-untyped-def]
            return push_progress(self.engine, request.reference, creds)

        async for p in iterate_in_thread(progress):
            yield _progress_message(p)

    @handler
    async def RegistryLogin(self, request: epb.RegistryLoginRequest, context) -> epb.RegistryLoginResponse:
        from .registry import pull

        if not request.username:
            raise InvalidArgument("login needs a username")
        config = self.engine.registry_settings()
        host, token = await self._call(pull.check_login, request.server, request.username, request.password, config)
        return epb.RegistryLoginResponse(registry=host, identity_token=token)

    @handler
    async def CreateVolume(self, request: epb.CreateVolumeRequest, context) -> epb.VolumeInfo:
        return volume_info(await self._call(self.engine.volumes.create, request.name, dict(request.labels)))

    @handler
    async def ListVolumes(self, request: cpb.Empty, context) -> epb.ListVolumesResponse:
        return epb.ListVolumesResponse(volumes=[volume_info(v) for v in await self._call(self.engine.volumes.ls)])

    @handler
    async def InspectVolume(self, request: epb.VolumeRef, context) -> epb.VolumeInfo:
        return volume_info(await self._call(self.engine.volumes.inspect, request.name))

    @handler
    async def RemoveVolume(self, request: epb.RemoveVolumeRequest, context) -> cpb.Empty:
        await self._call(self.engine.volumes.remove, request.name, request.force)
        return cpb.Empty()

    @handler
    async def PruneVolumes(self, request: cpb.Empty, context) -> epb.PruneVolumesResponse:
        deleted, freed = await self._call(self.engine.volumes.prune)
        return epb.PruneVolumesResponse(deleted=deleted, reclaimed_bytes=freed)

    @handler
    async def Info(self, request: cpb.Empty, context) -> epb.EngineInfo:
        return epb.EngineInfo(**self.engine.info())  # type: ignore[arg-type]


async def serve_unix(engine: Engine, socket_path: str) -> grpc.aio.Server:
    """Serve the engine API on `socket_path`, readable and writable by root only."""
    os.makedirs(os.path.dirname(socket_path), mode=0o700, exist_ok=True)
    try:
        os.unlink(socket_path)
    except FileNotFoundError:
        pass
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_health.v1.health import aio as health_aio

    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 8 << 20)])
    epb_grpc.add_EngineServicer_to_server(EngineService(engine), server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    old = os.umask(0o177)
    try:
        server.add_insecure_port(f"unix:{socket_path}")
        await server.start()
    finally:
        os.umask(old)
    os.chmod(socket_path, 0o600)
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    return server


def _progress_message(p: Progress) -> epb.PullProgress:
    """A pull's or a push's progress line (registry.pull.Progress) as the API sends it."""
    return epb.PullProgress(
        id=p.id, status=p.status, current=p.current, total=p.total, image_id=p.image_id, identity_token=p.identity_token
    )
