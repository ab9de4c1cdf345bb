"""A real single-node Docker Swarm for the benchmarks, confined so that it leaves the host as it found it.

    with DockerSwarm() as d:          # raises DockerUnavailable(reason) if dockerd cannot run here
        d.docker("service", "create", ...)

Debian's docker.io (dockerd, docker CLI) and containerd packages are fetched with `apt-get download` into
/var/cache/svc/bench-docker and extracted there (`dpkg-deb -x`; nothing is installed); runc is the host's.
containerd and dockerd run:
- in a network namespace of their own (a veth pair inside it gives swarm an address to advertise), so the
  bridges, the ingress overlay and the iptables rules dockerd makes exist only there;
- in a mount namespace of their own (slave of the host's) with a fresh /sys for that network namespace, the
  host's cgroup mounts bound back in, and a tmpfs on /run: overlay, shm and netns mounts, and the shim sockets
  containerd insists on putting in /run/containerd/s, vanish with the namespace;
- with every path of theirs (data-root, exec-root, containerd root, state, sockets, opt, the trust key) in a
  temporary directory, and their containers' cgroups under /svcbd-<pid> in every hierarchy (cgroupfs driver:
  this host's /sys/fs/cgroup is cgroup v1 with a v2 "unified" hierarchy beside it).
Teardown: swarm leave, every container removed, dockerd and containerd stopped, whatever they started that
is still alive (in their namespaces or cgroups) killed by pid, mounts under the temporary directory (none are
expected on the host) lazily unmounted, the cgroups removed, the namespace deleted, the directory removed.
`teardown()` returns what it could not clean.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

CACHE = "/var/cache/svc/bench-docker"
PACKAGES = ("docker.io", "containerd")
RUNC = shutil.which("runc") or "/usr/sbin/runc"
ADDR = "10.253.0.1"  # inside the namespace only


class DockerUnavailable(RuntimeError):
    """dockerd could not be brought up here; the message says why."""


def _run(cmd: list[str], timeout: float = 120, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise DockerUnavailable(f"{' '.join(cmd)}: exit {r.returncode}: {(r.stderr or r.stdout).strip()[-2000:]}")
    return r


def fetch(cache: str = CACHE) -> str:
    """The extracted packages' root (cache/root), fetching and extracting them the first time."""
    root = os.path.join(cache, "root")
    stamp = os.path.join(cache, "extracted")
    if os.path.exists(stamp) and os.path.exists(os.path.join(root, "usr/sbin/dockerd")):
        return root
    os.makedirs(cache, exist_ok=True)
    debs = {p: glob.glob(os.path.join(cache, f"{p}_*.deb")) for p in PACKAGES}
    missing = [p for p, found in debs.items() if not found]
    if missing:
        _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *missing], timeout=600, cwd=cache)
    shutil.rmtree(root, ignore_errors=True)
    names = []
    for p in PACKAGES:
        deb = sorted(glob.glob(os.path.join(cache, f"{p}_*.deb")))[-1]
        _run(["dpkg-deb", "-x", deb, root], timeout=300)
        names.append(os.path.basename(deb))
    with open(stamp, "w") as f:
        f.write("\n".join(names) + "\n")
    return root


def _pids_in_cgroups(parent: str) -> set[int]:
    out: set[int] = set()
    for procs in glob.glob(f"/sys/fs/cgroup/*{parent}/**/cgroup.procs", recursive=True):
        try:
            with open(procs) as f:
                out.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def _pids_in_ns(kind: str, inode: str) -> set[int]:
    out: set[int] = set()
    for d in glob.glob("/proc/[0-9]*"):
        try:
            if os.readlink(f"{d}/ns/{kind}") == inode:
                out.add(int(os.path.basename(d)))
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class DockerSwarm:
    def __init__(self, cache: str = CACHE, tag: str | None = None) -> None:
        self.cache = cache
        self.tag = tag or f"svcbd-{os.getpid()}"
        self.netns = self.tag
        self.cgroup_parent = "/" + self.tag
        self.dir = ""
        self.root = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.mntns = ""
        self.env: dict[str, str] = {}
        self.cli = ""

    # ----- bring-up -----

    def __enter__(self) -> DockerSwarm:
        try:
            self.start()
        except BaseException:
            left = self.teardown()
            if left:
                print(f"warning: docker left behind: {left}", file=sys.stderr)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        left = self.teardown()
        if left:
            print(f"warning: docker left behind: {left}", file=sys.stderr)

    def start(self) -> None:
        if os.geteuid() != 0:
            raise DockerUnavailable("needs root (network namespace, mounts, cgroups)")
        if not os.path.exists(RUNC):
            raise DockerUnavailable("no runc on this host")
        self.root = fetch(self.cache)
        self.cli = os.path.join(self.root, "usr/bin/docker")
        self.dir = tempfile.mkdtemp(prefix=f"{self.tag}-")
        d = self.dir
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{d}/docker.sock", "DOCKER_CONFIG": f"{d}/cli"}
        _run(["ip", "netns", "add", self.netns])
        inside = ["ip", "netns", "exec", self.netns]
        for cmd in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "link", "add", "sb0", "type", "veth", "peer", "name", "sb1"],
            ["ip", "addr", "add", f"{ADDR}/24", "dev", "sb0"],
            ["ip", "link", "set", "sb0", "up"],
            ["ip", "link", "set", "sb1", "up"],
        ):
            _run(inside + cmd)
        for sub in ("containerd/root", "containerd/state", "containerd/opt", "docker", "exec", "cg", "cli"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        with open(f"{d}/containerd.toml", "w") as f:
            f.write(
                "version = 2\n"
                f'root = "{d}/containerd/root"\nstate = "{d}/containerd/state"\n'
                # Docker does not use the CRI plugin (Docker's own containerd.io package disables it too).
                'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                f'[grpc]\n  address = "{d}/containerd.sock"\n'
                f'[ttrpc]\n  address = "{d}/containerd-ttrpc.sock"\n'
                f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{d}/containerd/opt"\n'
            )
        daemon: dict[str, Any] = {
            "containerd": f"{d}/containerd.sock",
            "data-root": f"{d}/docker",
            "exec-root": f"{d}/exec",
            "hosts": [f"unix://{d}/docker.sock"],
            "pidfile": f"{d}/docker.pid",
            "deprecated-key-path": f"{d}/key.json",
            "exec-opts": ["native.cgroupdriver=cgroupfs"],
            "cgroup-parent": self.cgroup_parent,
            "storage-driver": "overlay2",
        }
        tini = shutil.which("tini-static") or shutil.which("tini")
        if tini:
            daemon["init-path"] = tini
        with open(f"{d}/daemon.json", "w") as f:
            json.dump(daemon, f, indent=1)
        path = f"{self.root}/usr/bin:{self.root}/usr/sbin:{os.path.dirname(RUNC)}:/usr/sbin:/usr/bin:/sbin:/bin"
        script = f"""set -e
export PATH={path}
mount --rbind /sys/fs/cgroup {d}/cg
umount -l /sys
mount -t sysfs sysfs /sys
mount --rbind {d}/cg /sys/fs/cgroup
umount -l {d}/cg
mount -t tmpfs -o mode=755 svcbd-run /run
containerd --config {d}/containerd.toml >{d}/containerd.log 2>&1 &
echo $! >{d}/containerd.pid
i=0
while [ ! -S {d}/containerd.sock ]; do i=$((i+1)); [ $i -lt 600 ] || exit 3; sleep 0.05; done
dockerd --config-file {d}/daemon.json >{d}/dockerd.log 2>&1 &
echo $! >{d}/dockerd.pid
wait
"""
        self.proc = subprocess.Popen(
            [
                "nsenter",
                f"--net=/run/netns/{self.netns}",
                "unshare",
                "--mount",
                "--propagation",
                "slave",
                "sh",
                "-c",
                script,
            ],
            stdin=subprocess.DEVNULL,
            stdout=open(f"{d}/start.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            r = _run([self.cli, "version", "--format", "{{.Server.Version}}"], check=False, env=self.env)
            if r.returncode == 0 and r.stdout.strip():
                break
            self._ours()  # notes the mount namespace while the shell lives
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise DockerUnavailable(f"dockerd did not come up: {self._log_tail()}")
            time.sleep(0.2)
        self.docker("swarm", "init", "--advertise-addr", ADDR)

    def _log_tail(self) -> str:
        out = []
        for name in ("start.log", "containerd.log", "dockerd.log"):
            try:
                with open(os.path.join(self.dir, name)) as f:
                    lines = [ln for ln in f.read().splitlines() if ln.strip()]
                out.append(f"[{name}] " + " | ".join(lines[-6:]))
            except OSError:
                pass
        return "; ".join(out)

    # ----- use -----

    def docker(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run([self.cli, *args], timeout=timeout, check=check, env=self.env)

    def load_busybox(self, path: str) -> None:
        """`docker load` a busybox image archive built like the tests build one (no registry)."""
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
        from imagebuild import ImageSpec, busybox_entries, write_docker_save

        self.docker("load", "-i", write_docker_save(path, ImageSpec(layers=[busybox_entries()])))

    def versions(self) -> dict[str, str]:
        info = json.loads(self.docker("version", "--format", "{{json .}}").stdout)
        out = {"client": info["Client"]["Version"], "engine": info["Server"]["Version"]}
        for comp in info["Server"].get("Components") or []:
            out[comp["Name"].lower()] = comp["Version"]
        fmt = "{{.Driver}} {{.CgroupDriver}} cgroup v{{.CgroupVersion}} swarm={{.Swarm.LocalNodeState}}"
        out["info"] = self.docker("info", "--format", fmt).stdout.strip()
        return out

    def rss_mib(self) -> dict[str, float]:
        out = {}
        for name in ("dockerd", "containerd"):
            try:
                with open(os.path.join(self.dir, f"{name}.pid")) as f:
                    pid = int(f.read().split()[0])
                with open(f"/proc/{pid}/status") as f:
                    kb = next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))
                out[name] = kb / 1024
            except (OSError, ValueError, StopIteration):
                pass
        return out

    # ----- teardown -----

    def _ours(self) -> set[int]:
        """Everything alive that runs in our namespaces or cgroups: what containerd and dockerd started."""
        pids = _pids_in_cgroups(self.cgroup_parent)
        if not self.mntns and self.proc is not None and _alive(self.proc.pid):
            try:
                mnt = os.readlink(f"/proc/{self.proc.pid}/ns/mnt")
                if mnt != os.readlink("/proc/self/ns/mnt"):  # once unshare has run
                    self.mntns = mnt
            except OSError:
                pass
        if self.mntns:
            pids |= _pids_in_ns("mnt", self.mntns)
        if os.path.exists(f"/run/netns/{self.netns}"):
            r = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True)
            pids |= {int(x) for x in r.stdout.split()}
        pids.discard(os.getpid())
        return {p for p in pids if _alive(p)}

    def _stop_pid(self, name: str, timeout: float) -> None:
        try:
            with open(os.path.join(self.dir, f"{name}.pid")) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if pid not in self._ours():
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def teardown(self) -> list[str]:
        left: list[str] = []
        if self.proc is not None and self.proc.poll() is None:
            self.docker("swarm", "leave", "--force", check=False, timeout=120)
            ids = self.docker("ps", "-aq", check=False).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False, timeout=300)
            self._stop_pid("dockerd", 30)
            self._stop_pid("containerd", 15)
        for _ in range(100):
            pids = self._ours()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        else:
            left.append(f"processes {sorted(self._ours())}")
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                left.append(f"start shell {self.proc.pid}")
        if self.dir:
            with open("/proc/self/mountinfo") as f:
                mounts = [ln.split()[4] for ln in f]
            for m in sorted((m for m in mounts if m.startswith(self.dir + "/")), key=len, reverse=True):
                if subprocess.run(["umount", "-l", m], capture_output=True).returncode != 0:
                    left.append(f"mount {m}")
        for top in glob.glob(f"/sys/fs/cgroup/*{self.cgroup_parent}"):
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except OSError as e:
                    left.append(f"cgroup {dirpath}: {e}")
        if (
            os.path.exists(f"/run/netns/{self.netns}")
            and subprocess.run(["ip", "netns", "del", self.netns], capture_output=True).returncode != 0
        ):
            left.append(f"netns {self.netns}")
        if self.dir and not any(x.startswith("mount") for x in left):
            shutil.rmtree(self.dir, ignore_errors=True)
            if os.path.exists(self.dir):
                left.append(f"dir {self.dir}")
        self.proc = None
        return left


def main() -> int:
    """Bring a swarm up, print its versions, start one busybox task, tear it all down."""
    try:
        with DockerSwarm() as d:
            print(json.dumps(d.versions()))
            d.load_busybox(os.path.join(d.dir, "busybox.tar"))
            d.docker("service", "create", "-d", "--no-resolve-image", "--name", "t", "busybox", "sleep", "1000000")
            for _ in range(100):
                if d.docker("ps", "-q").stdout.split():
                    break
                time.sleep(0.2)
            print(d.docker("ps").stdout, end="")
            print(json.dumps(d.rss_mib()))
    except DockerUnavailable as e:
        print(f"Docker unavailable: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
