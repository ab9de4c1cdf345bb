"""What a running container holds on the host, taken in order and given back in reverse.

`acquire` mounts the overlay root, resolves the user inside it, attaches the network, writes
the /etc files, mounts the task's secrets and configs (a tmpfs, taskfiles.py), makes and fills
its named volumes (volumes.py), writes the OCI bundle, and has the runtime create (under conmon) and start the
container; if any step fails, the ones before it are undone. `release` gives everything
back and is safe to repeat: it is also how a crashed start or a daemon restart is cleaned up.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from svc.errors import InvalidArgument, RuntimeFailure
from svc.v1 import container_pb2 as pb

from . import apparmor, initbin, ocispec, seccomp
from .container import Container, ExecContext
from .hostfiles import write_etc_files
from .images import ImageStore
from .mounts import mount_overlay, unmount
from .network import BridgeNetwork
from .overlay import Overlays
from .runtime import ContainerFiles, OciRuntime
from .spec import Resolved
from .taskfiles import TaskFiles
from .users import resolve_user
from .volumes import VolumeStore, check_binds, oci_mounts

log = logging.getLogger(__name__)

ATTACHED_MARKER = "network.attached"


@dataclass(frozen=True)
class Held:
    pid: int
    conmon_pid: int
    ip: str
    exec_context: ExecContext


class HostResources:
    def __init__(
        self,
        images: ImageStore,
        network: BridgeNetwork,
        overlays: Overlays,
        taskfiles: TaskFiles,
        volumes: VolumeStore,
        forget_volume: Callable[[str, str], None],
    ) -> None:
        self.images = images
        self.volumes = volumes
        self.forget_volume = forget_volume  # (name, container id): a volume its failed start made
        self.taskfiles = taskfiles
        self.network = network
        self.overlays = overlays
        log.info("%s", seccomp.describe())
        self.apparmor_profile = apparmor.container_profile()

    def acquire(
        self,
        c: Container,
        files: ContainerFiles,
        resolved: Resolved,
        runtime: OciRuntime,
        values: Mapping[str, bytes] | None = None,
    ) -> Held:
        """`values`: the task's secrets and configs by id (in memory only)."""
        undo: list[Callable[[], None]] = []
        if c.spec.attachments and c.network != "bridge":
            raise InvalidArgument(f"overlay networks need bridge networking, not {c.network!r}")
        made: list[str] = []  # volumes this start creates: removed again if it fails
        try:
            check_binds(list(c.spec.mounts), [])  # a source removed since create (the engine checked the rest)
            lowers = list(reversed(self.images.layer_dirs(c.image_id)))
            mount_overlay(lowers, files.upper, files.work, files.rootfs)
            undo.append(lambda: unmount(files.rootfs))
            uid, gid, groups = resolve_user(files.rootfs, resolved.user)
            undo.append(lambda: self.detach(c, files))
            # Before attaching, so a crash in between still gets cleaned up; with the ports published on
            # this host, so their rules are removed even if the routing mesh is switched before then.
            self._mark_attached(files, True, self.network.published(list(c.spec.ports)), list(c.spec.ports))
            attachment = self.network.attach(c.id, c.network, list(c.spec.ports))
            if c.spec.attachments and attachment.netns:
                self.overlays.attach(c.id, attachment.netns, list(c.spec.attachments), list(c.spec.ports))
            overlay = bool(c.spec.attachments)  # on overlay networks: names from the embedded DNS server
            binds = write_etc_files(
                files.etc, resolved.hostname, attachment.ip, c.network, overlay, list(c.spec.extra_hosts)
            )
            undo.append(lambda: self.taskfiles.unmount(c.id))
            binds += self.taskfiles.mount(c.id, c.spec, values or {})
            undo.append(lambda: self._forget(made, c.id))
            mounts = oci_mounts(list(c.spec.mounts), files.rootfs, self.volumes, made)
            bundle = ocispec.Bundle(
                args=list(resolved.args),
                env=list(resolved.env),
                cwd=resolved.cwd,
                uid=uid,
                gid=gid,
                additional_gids=groups,
                hostname=resolved.hostname,
                rootfs=files.rootfs,
                read_only=c.spec.read_only,
                capabilities=list(resolved.capabilities),
                cgroups_path=c.cgroups_path,
                netns_path=attachment.netns,
                memory_bytes=c.spec.resources.memory_bytes,
                nano_cpus=c.spec.resources.nano_cpus,
                pids_limit=c.spec.resources.pids_limit,
                mounts=mounts,
                binds=binds,
                seccomp=seccomp.for_container(c.spec.seccomp, resolved.capabilities),
                apparmor_profile=self.apparmor_profile,
                sysctls=dict(c.spec.sysctls),
                ulimits=[(u.name, u.soft, u.hard) for u in c.spec.ulimits],
                init_path=initbin.find() if c.spec.init else "",
            )
            config = ocispec.build_config(bundle)
            with open(files.config, "w") as f:
                f.write(json.dumps(config))  # dumps is C-encoded; dump streams through Python's encoder
            undo.append(lambda: runtime.delete(c.id, files, force=True))
            pid, conmon_pid = runtime.create(c.id, files)
            runtime.start(c.id, files)
        except BaseException:
            for step in reversed(undo):
                try:
                    step()
                except Exception:
                    log.exception("undoing a failed start of %s", c.id[:12])
            raise
        rlimits = list(config["process"]["rlimits"])
        context = ExecContext(list(resolved.env), resolved.cwd, uid, gid, list(resolved.capabilities), rlimits)
        return Held(pid=pid, conmon_pid=conmon_pid, ip=attachment.ip, exec_context=context)

    @staticmethod
    def _published_at_attach(files: ContainerFiles, ports: list[pb.PortMapping]) -> list[pb.PortMapping]:
        """The ports the marker says were published; a marker of an older version names none, so every
        port with a host port (removing a rule that was never made is harmless)."""
        try:
            with open(os.path.join(files.dir, ATTACHED_MARKER)) as f:
                indexes = json.load(f)["published"]
            return [ports[i] for i in indexes if isinstance(i, int) and 0 <= i < len(ports)]
        except (OSError, ValueError, KeyError, TypeError):
            return [p for p in ports if p.host_port]

    def _forget(self, names: list[str], cid: str) -> None:
        for name in names:
            self.forget_volume(name, cid)

    def release(self, c: Container, files: ContainerFiles, runtime: OciRuntime | None) -> None:
        """Runtime state, network, rootfs mount. Idempotent; logs what it cannot give back.

        A bridge network's release (portmap's CNI DEL if ports are published, and a veth the kernel
        deletes synchronously, ~14 ms) and the runtime's delete touch nothing of each other's: they run side by side,
        and both are done before the rootfs is unmounted and before this returns."""

        def attempt(what: str, step: Callable[[], None]) -> None:
            try:
                step()
            except Exception as exc:
                log.warning("releasing %s of container %s: %s", what, c.id[:12], exc)

        network = threading.Thread(
            target=attempt, args=("network", lambda: self.detach(c, files)), name=f"release-{c.id[:12]}"
        )
        beside = (
            runtime is not None and c.network == "bridge" and os.path.exists(os.path.join(files.dir, ATTACHED_MARKER))
        )
        if beside:
            network.start()
        try:
            if runtime is not None:
                attempt("runtime", lambda: runtime.delete(c.id, files, force=True))
        finally:
            if beside:
                network.join()
        if not beside:
            attempt("network", lambda: self.detach(c, files))
        attempt("rootfs", lambda: unmount(files.rootfs))
        attempt("secrets and configs", lambda: self.taskfiles.unmount(c.id))

    def detach(self, c: Container, files: ContainerFiles) -> None:
        """Release the network if the container holds one (the marker saves the netlink and CNI work for nothing)."""
        if os.path.exists(os.path.join(files.dir, ATTACHED_MARKER)):
            overlay_error = None
            if c.spec.attachments:  # while the container's namespace is still there
                try:
                    self.overlays.detach(c.id, list(c.spec.attachments))
                except RuntimeFailure as exc:
                    overlay_error = exc  # its namespace goes below all the same, taking the veths along
            ports = list(c.spec.ports)
            self.network.detach(c.id, c.network, ports, self._published_at_attach(files, ports))
            self._mark_attached(files, False)
            if overlay_error is not None:
                raise overlay_error

    @staticmethod
    def _mark_attached(
        files: ContainerFiles,
        attached: bool,
        published: Sequence[pb.PortMapping] = (),
        ports: Sequence[pb.PortMapping] = (),
    ) -> None:
        """The marker names which of the container's ports were published (their indexes in its spec)."""
        path = os.path.join(files.dir, ATTACHED_MARKER)
        if attached:
            with open(path, "w") as f:
                f.write(json.dumps({"published": [i for i, p in enumerate(ports) if p in published]}))
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
