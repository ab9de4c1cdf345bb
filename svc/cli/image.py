"""`svc image ...`: the node's image store, through the local engine API."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

from svc import defaults
from svc.cli import output
from svc.errors import InvalidArgument, NotFound


def register(sub: Any, command: str | None = None) -> None:
    p = sub.add_parser("image", help="manage images on this node")
    isub = p.add_subparsers(dest="verb", required=True)
    imp = isub.add_parser("import", help="import a `docker save` tarball, an OCI layout archive or a rootfs tarball")
    imp.add_argument("file", help="archive path, or - for standard input")
    imp.add_argument("reference", nargs="?", default="", help="NAME[:TAG] to give the image")
    imp.set_defaults(func=cmd_import)
    pull = isub.add_parser("pull", help="pull an image from a registry (busybox = docker.io/library/busybox:latest)")
    pull.add_argument("reference", help="NAME[:TAG][@DIGEST]")
    pull.add_argument("--platform", default="", help="OS/ARCH[/VARIANT] to pick from a multi-platform image")
    pull.add_argument("-q", "--quiet", action="store_true", help="print only the image id")
    pull.set_defaults(func=cmd_pull)
    push = isub.add_parser("push", help="push an image to a registry (its layers as stored, then its manifest)")
    push.add_argument("reference", help="NAME[:TAG] of an image on this node (svc image tag gives it one)")
    push.add_argument("-a", "--all-tags", action="store_true", help="push every tag of NAME on this node")
    push.add_argument("-q", "--quiet", action="store_true", help="print only the pushed reference")
    push.set_defaults(func=cmd_push)
    tag = isub.add_parser("tag", help="give an image another name: SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")
    tag.add_argument("source", help="image id, NAME[:TAG] or NAME@DIGEST on this node")
    tag.add_argument("target", help="NAME[:TAG]; no tag = latest")
    tag.set_defaults(func=cmd_tag)
    login = sub.add_parser("login", help="log in to a registry (credentials kept in ~/.docker/config.json, 0600)")
    login.add_argument("server", nargs="?", default="", help="HOST[:PORT]; default Docker Hub")
    login.add_argument("-u", "--username", default="")
    login.add_argument("-p", "--password", default="", help="prefer --password-stdin")
    login.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    login.set_defaults(func=cmd_login)
    logout = sub.add_parser("logout", help="forget the credentials for a registry")
    logout.add_argument("server", nargs="?", default="", help="HOST[:PORT]; default Docker Hub")
    logout.set_defaults(func=cmd_logout)
    ls = isub.add_parser("ls", help="list images")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.add_argument("--format", default="")
    ls.add_argument("--digests", action="store_true", help="show the digests images were pulled by")
    ls.set_defaults(func=cmd_ls)
    ins = isub.add_parser("inspect", help="show an image's details as JSON")
    ins.add_argument("images", nargs="+")
    ins.set_defaults(func=cmd_inspect)
    rm = isub.add_parser("rm", help="remove images")
    rm.add_argument("-f", "--force", action="store_true")
    rm.add_argument("images", nargs="+")
    rm.set_defaults(func=cmd_rm)
    from svc.cli import imageprune

    imageprune.register(isub)


def _engine():  # type: ignore[no-untyped-def]
    from svc.client import EngineClient

    return EngineClient()


def archive_chunks(path: str, reference: str) -> Iterator[Any]:
    """The archive as ImportImageChunk messages; the first one carries the name."""
    from svc.v1 import engine_pb2 as epb

    if path != "-" and not os.path.isfile(path):
        raise InvalidArgument(f"{path}: no such file")
    f = sys.stdin.buffer if path == "-" else open(path, "rb")
    try:
        first = True
        while True:
            data = f.read(defaults.IMAGE_CHUNK_BYTES)
            if not data and not first:
                return
            yield epb.ImportImageChunk(reference=reference if first else "", data=data)
            first = False
            if not data:
                return
    finally:
        if f is not sys.stdin.buffer:
            f.close()


def check_archive_file(path: str) -> None:
    """Refuse what cannot be read before the upload starts (an error inside the request stream would
    reach the user as gRPC's `Exception iterating requests!`)."""
    if path == "-":
        return
    if not os.path.lexists(path):
        raise InvalidArgument(f"no such file: {path}")
    if os.path.isdir(path):
        raise InvalidArgument(f"{path}: is a directory, not an image archive")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise InvalidArgument(f"{path}: {exc.strerror or exc}") from None


_ENGINE_TEMP = re.compile(r"[^\s'\"]*/tmp[^\s'\"]*\.import")  # where the engine spools an upload


def in_users_words(message: str, path: str) -> str:
    """An engine's error about the spooled upload, on one line, told with the user's file name instead."""
    shown = "the archive on stdin" if path == "-" else path
    lines = message.splitlines() or [""]
    message = _ENGINE_TEMP.sub(lambda _m: shown, re.sub(r"\s*\([^)]*$", "", lines[0]))  # tarfile's tried methods
    return message if shown in message else f"{shown}: {message}"


def cmd_import(args: argparse.Namespace) -> int:
    from svc.errors import SvcError

    if args.reference:
        from svc import reference

        reference.normalize(args.reference)
    check_archive_file(args.file)
    try:
        info = _engine().ImportImage(archive_chunks(args.file, args.reference))
    except SvcError as exc:
        exc.message = in_users_words(exc.message, args.file)
        raise
    print(info.id)
    return 0


_BAR = ("Downloading", "Pushing")  # the statuses drawn with a progress bar (a pipe sees each once)


class PullDisplay:
    """`docker pull`'s (and `docker push`'s) display: one line per layer, redrawn in place on a terminal.

    Elsewhere (a pipe, a log) each layer's status is printed when it changes, without byte counts.
    """

    def __init__(self, out: Any = None, tty: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.order: list[str] = []
        self.lines: dict[str, str] = {}
        self.last: dict[str, str] = {}

    def _bar(self, current: int, total: int) -> str:
        from svc.units import format_size

        if total <= 0:
            return ""
        width = 40
        done = min(width, current * width // total)
        arrow = ">" if done < width else ""
        return f"[{'=' * max(done - 1, 0) if arrow else '=' * done}{arrow}{' ' * (width - done)}] " + (
            f"{format_size(current)}/{format_size(total)}"
        )

    def update(self, p: Any) -> None:
        if not p.id:
            self._print(p.status)
            return
        text = f"{p.id}: {p.status}"
        if p.status in _BAR and p.total:
            text += " " + self._bar(p.current, p.total)
        if not self.tty:
            if p.status != self.last.get(p.id):
                self.out.write(f"{p.id}: {p.status}\n")
            self.last[p.id] = p.status
            self.out.flush()
            return
        if p.id not in self.lines:
            self.order.append(p.id)
            self.lines[p.id] = text
            self.out.write(text + "\n")
        else:
            self.lines[p.id] = text
            up = len(self.order) - self.order.index(p.id)
            self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
        self.out.flush()

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


def cmd_pull(args: argparse.Namespace) -> int:
    image_id = pull(args.reference, args.platform, None if args.quiet else PullDisplay())
    if args.quiet:
        print(image_id)
    return 0


def pull(reference: str, platform: str = "", display: PullDisplay | None = None) -> str:
    """Pull `reference` through this node's engine (with the CLI's registry credentials); its image id."""
    from svc import dockerconfig, registryref
    from svc.v1 import engine_pb2 as epb

    ref = registryref.parse(reference)
    creds = dockerconfig.credentials(ref.registry) or ("", "")
    request = epb.PullImageRequest(reference=reference, platform=platform, username=creds[0], password=creds[1])
    image_id = ""
    for p in _engine().stream("PullImage", request):
        if (rotated := _keep_rotated(ref.registry, creds, p)) is not None:
            creds = rotated
            continue
        if p.image_id:
            image_id = p.image_id
        if display is not None:
            display.update(p)
    return image_id


def cmd_push(args: argparse.Namespace) -> int:
    """Push through this node's engine, sending the CLI's credentials for the registry (as the Docker CLI)."""
    from svc import dockerconfig, registryref
    from svc.v1 import engine_pb2 as epb

    ref = registryref.parse(args.reference)
    creds = dockerconfig.credentials(ref.registry) or ("", "")
    engine = _engine()
    targets = [args.reference]
    if args.all_tags:
        if ref.digest or ":" in args.reference.rsplit("/", 1)[-1]:
            raise InvalidArgument("tag can't be used with --all-tags/-a")
        targets = sorted(t for t in _tags(engine) if _name_of(t) == ref.name)
        if not targets:
            raise NotFound(f"An image does not exist locally with the tag: {ref.name}")
    for target in targets:
        display = None if args.quiet else PullDisplay()  # a display per push: the same layers may show again
        request = epb.PushImageRequest(reference=target, username=creds[0], password=creds[1])
        for p in engine.stream("PushImage", request):
            if (rotated := _keep_rotated(ref.registry, creds, p)) is not None:
                creds = rotated  # the next tag's push spends the new one
                continue
            if display is not None:
                display.update(p)
        if args.quiet:
            print(registryref.parse(target).tagged())
    return 0


def _name_of(tag: str) -> str:
    from svc import registryref

    try:
        return registryref.parse(tag).name
    except InvalidArgument:
        return ""


def _tags(engine: Any) -> list[str]:
    from svc.v1 import common_pb2 as cpb

    return [t for i in engine.ListImages(cpb.Empty()).images for t in i.tags]


def cmd_tag(args: argparse.Namespace) -> int:
    from svc.v1 import engine_pb2 as epb

    _engine().TagImage(epb.TagImageRequest(source=args.source, target=args.target))
    return 0


def cmd_login(args: argparse.Namespace) -> int:
    from svc import dockerconfig, registryref
    from svc.v1 import engine_pb2 as epb

    host = registryref.login_host(args.server)
    user = args.username
    if not user:
        if not sys.stdin.isatty() or args.password_stdin:
            raise InvalidArgument("login needs --username (-u)")
        user = input("Username: ").strip()
    password = args.password
    if args.password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
    elif not password:
        if not sys.stdin.isatty():
            raise InvalidArgument("login needs a password: use --password-stdin")
        import getpass

        password = getpass.getpass("Password: ")
    if not password:
        raise InvalidArgument("login needs a password")
    reply = _engine().RegistryLogin(epb.RegistryLoginRequest(server=host, username=user, password=password))
    if reply.identity_token:  # the token service's refresh token is kept instead of the password (docker's way)
        path = dockerconfig.store(reply.registry or host, dockerconfig.TOKEN_USER, reply.identity_token)
    else:
        path = dockerconfig.store(reply.registry or host, user, password)
    print(f"Login Succeeded (credentials kept in {path})")
    return 0


def _keep_rotated(host: str, sent: tuple[str, str], p: Any) -> tuple[str, str] | None:
    """For a progress line carrying the identity token the registry's token service rotated the one sent
    into: written back where the CLI read it; the credentials to send from now on (None: a line to show)."""
    if not p.identity_token:
        return None
    from svc import dockerconfig

    if sent[0] == dockerconfig.TOKEN_USER:
        dockerconfig.rotate(host, sent[1], p.identity_token)
    return dockerconfig.TOKEN_USER, p.identity_token


def cmd_logout(args: argparse.Namespace) -> int:
    from svc import dockerconfig, registryref

    host = registryref.login_host(args.server)
    if not dockerconfig.erase(host):
        raise NotFound(f"not logged in to {host}")
    print(f"Removing login credentials for {host}")
    return 0


IMAGE_TITLES = {"ID": "IMAGE ID", "CreatedSince": "CREATED"}


def cmd_ls(args: argparse.Namespace) -> int:
    from svc.cli import formatter, jsonview
    from svc.units import format_size
    from svc.v1 import common_pb2 as cpb

    if formatter.is_template(args.format):
        formatter.prepare(args.format)
    images = _engine().ListImages(cpb.Empty()).images
    if args.quiet:
        for i in images:
            print(i.id[7:19])
        return 0
    if args.format == "json":
        output.json_lines(jsonview.doc(i) for i in images)
        return 0
    docs = []
    now = time.time()
    for i in images:
        digests = {d.split("@", 1)[0]: d.split("@", 1)[1] for d in i.repo_digests}
        lines = [tuple(t.rpartition(":")[::2]) for t in i.tags]
        if args.digests:  # as docker: a row per repository digest without a tag too
            tagged = {name for name, _ in lines}
            lines += [(name, "<none>") for name in digests if name not in tagged]
        for name, t in lines or [("<none>", "<none>")]:
            docs.append(
                {
                    "Repository": name,
                    "Tag": t,
                    "Digest": digests.get(name, "<none>"),
                    "ID": i.id[7:19],
                    "CreatedSince": output.ago(i.created_at, now),
                    "CreatedAt": jsonview.rfc3339(i.created_at),
                    "Size": format_size(i.size_bytes),
                }
            )
    if formatter.is_template(args.format):
        formatter.render(args.format, docs, IMAGE_TITLES)
        return 0
    columns = ["Repository", "Tag", *(["Digest"] if args.digests else []), "ID", "CreatedSince", "Size"]
    head = ["REPOSITORY", "TAG", *(["DIGEST"] if args.digests else []), "IMAGE ID", "CREATED", "SIZE"]
    output.table(head, [[d[k] for k in columns] for d in docs])
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from svc.cli import jsonview
    from svc.v1 import engine_pb2 as epb

    engine = _engine()
    docs = []
    for ref in args.images:
        info = engine.InspectImage(epb.ImageRef(reference=ref))
        doc = jsonview.doc(info)
        doc["config"] = json.loads(doc.pop("config_json", "{}") or "{}")
        docs.append(doc)
    print(json.dumps(docs, indent=2, sort_keys=True))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from svc.v1 import engine_pb2 as epb

    engine = _engine()

    def remove(ref: str) -> None:
        engine.RemoveImage(epb.RemoveImageRequest(reference=ref, force=args.force))
        print(f"Deleted: {ref}")

    return output.for_each(args.images, remove)
