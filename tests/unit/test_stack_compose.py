"""svc/stack (pure): compose files read, interpolated, validated, merged and converted as docker's
stack deploy does, and what a redeploy writes (issue #15 item 4)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from svc.errors import InvalidArgument
from svc.stack import convert, loader, plan

APP = """
services:
  web:
    image: busybox
    command: httpd -f -p 8080
    ports:
      - "18080:8080"
      - {target: 53, published: "1053", protocol: udp, mode: host}
    environment:
      MODE: ${MODE:-one}
      EMPTY:
    env_file: web.env
    networks: [back]
    build: .
    container_name: x
    healthcheck: {test: "wget -q localhost:8080", interval: 5s, retries: 2}
    deploy:
      labels: [tier=front]
      resources: {limits: {cpus: "0.5", memory: 64M}, reservations: {memory: 16m}}
      restart_policy: {condition: on-failure, delay: 2s, max_attempts: 3}
      placement: {constraints: ["node.role==worker"]}
  api:
    image: busybox
    entrypoint: ["sleep"]
    command: ["1000000"]
    user: "1000"
    working_dir: /tmp
    read_only: true
    cap_drop: [ALL]
    networks:
      back:
        aliases: [backend]
    secrets:
      - source: token
        mode: 0400
      - ext
    configs: [conf]
    deploy:
      replicas: ${N:-1}
networks:
  back: {attachable: true, labels: [x=y]}
secrets:
  token: {file: ./token.txt}
  ext: {external: true}
configs:
  conf: {file: ./conf.txt, name: shared_conf}
"""


def _write(tmp: Any, name: str, text: str) -> str:
    path = os.path.join(str(tmp), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def _app(tmp: Any, extra_env: dict[str, str] | None = None, **files: str) -> tuple[list[str], list[str]]:
    _write(tmp, "token.txt", "hunter2\n")
    _write(tmp, "conf.txt", "a=1\n")
    _write(tmp, "web.env", "# comment\nFROM_FILE=1\nMODE=file\n")
    paths = [_write(tmp, "docker-compose.yml", APP)] + [_write(tmp, k + ".yml", v) for k, v in files.items()]
    return paths, []


def _load(paths: list[str], env: dict[str, str] | None = None) -> tuple[convert.Stack, list[str]]:
    warned: list[str] = []
    doc = loader.load(paths, env or {}, warned.append)
    return convert.convert(doc, "app", os.path.dirname(paths[0]), env or {}), warned


def test_the_mapping(tmp_path: Any) -> None:
    paths, _ = _app(tmp_path)
    st, warned = _load(paths, {"N": "3"})
    assert warned == ["Ignoring unsupported options: build", "Ignoring deprecated options: container_name"]
    api, web = st.services
    assert (api.name, web.name) == ("app_api", "app_web")
    assert api.replicas == 3 and api.mode == "replicated"
    assert list(api.task.entrypoint) == ["sleep"] and list(api.task.cmd) == ["1000000"]
    assert (api.task.user, api.task.workdir, api.task.read_only, list(api.task.cap_drop)) == (
        "1000",
        "/tmp",
        True,
        ["ALL"],
    )
    assert [(a.target, list(a.aliases)) for a in api.networks] == [("app_back", ["api", "backend"])]
    assert [(r.name, r.target, r.mode) for r in api.task.secrets] == [
        ("app_token", "/run/secrets/token", 0o400),
        ("ext", "/run/secrets/ext", 0o444),
    ]
    assert [(r.name, r.target) for r in api.task.configs] == [("shared_conf", "/conf")]
    assert list(web.task.cmd) == ["httpd", "-f", "-p", "8080"]
    assert list(web.task.env) == ["FROM_FILE=1", "MODE=one"]  # environment over env_file; unset EMPTY left out
    assert [(p.host_port, p.container_port, p.protocol) for p in web.task.ports] == [
        (18080, 8080, "tcp"),
        (1053, 53, "udp"),
    ]
    assert list(web.task.healthcheck.test) == ["CMD-SHELL", "wget -q localhost:8080"]
    assert web.task.healthcheck.interval_seconds == 5 and web.task.healthcheck.retries == 2
    assert web.task.resources.nano_cpus == 500_000_000 and web.task.resources.memory_bytes == 64 << 20
    assert web.reservations.memory_bytes == 16 << 20
    assert (web.restart.condition, web.restart.delay_seconds, web.restart.max_attempts) == ("on-failure", 2, 3)
    assert list(web.placement.constraints) == ["node.role==worker"]
    assert web.labels["tier"] == "front" and web.labels["com.docker.stack.namespace"] == "app"
    assert web.labels["com.docker.stack.image"] == "busybox"
    assert web.task.labels["com.docker.stack.namespace"] == "app"
    (net,) = st.networks
    assert (net.name, net.spec.driver, net.spec.attachable) == ("app_back", "overlay", True)
    assert dict(net.spec.labels) == {"x": "y", "com.docker.stack.namespace": "app"}
    files = {(f.kind, f.name): f for f in st.files}
    assert files[("secret", "app_token")].spec.data == b"hunter2\n"
    assert files[("secret", "ext")].external and files[("config", "shared_conf")].spec.data == b"a=1\n"


def test_default_network_and_unused_networks(tmp_path: Any) -> None:
    path = _write(tmp_path, "c.yml", "services:\n  web: {image: busybox}\nnetworks:\n  unused: {}\n")
    st, _ = _load([path])
    assert [n.name for n in st.networks] == ["app_default"]
    assert [(a.target, list(a.aliases)) for a in st.services[0].networks] == [("app_default", ["web"])]


def test_interpolation() -> None:
    env = {"A": "x", "E": ""}
    warned: list[str] = []

    def f(text: str) -> str:
        return loader.interpolate_string(text, env, "k", warned.append)

    assert f("$A ${A} ${E:-d} ${E-d} ${U:-u} ${U-u} $$A") == "x x d  u u $A"
    assert f("${U}") == "" and warned == ['The "U" variable is not set. Defaulting to a blank string.']
    with pytest.raises(InvalidArgument, match="required variable U is missing a value: set it"):
        f("${U?set it}")
    with pytest.raises(InvalidArgument, match="required variable E"):
        f("${E:?}")
    with pytest.raises(InvalidArgument, match="invalid interpolation format"):
        f("cost $5")
    doc = loader.interpolate({"services": {"w": {"deploy": {"replicas": "${N}"}, "image": "${N}"}}}, {"N": "2"}, print)
    assert doc["services"]["w"]["deploy"]["replicas"] == 2 and doc["services"]["w"]["image"] == "2"


def test_dotenv_beside_the_file_under_the_environment(tmp_path: Any) -> None:
    _write(tmp_path, ".env", "# c\nTAG=1.0\nexport OTHER='two'\n")
    path = _write(tmp_path, "c.yml", "services:\n  web: {image: 'busybox:${TAG}', command: 'echo ${OTHER}'}\n")
    assert _load([path])[0].services[0].task.image == "busybox:1.0"
    st, _ = _load([path], {"TAG": "2.0"})
    assert st.services[0].task.image == "busybox:2.0" and list(st.services[0].task.cmd) == ["echo", "two"]


def test_merge_in_order(tmp_path: Any) -> None:
    override = """
services:
  web:
    environment: [MODE=two, EXTRA=1]
    deploy: {replicas: 4, labels: {more: "1"}}
    ports: ["18081:8081"]
  api:
    secrets: [{source: token, target: /etc/token}]
"""
    paths, _ = _app(tmp_path, over=override)
    st, _ = _load(paths)
    api, web = st.services
    assert list(web.task.env) == ["EXTRA=1", "FROM_FILE=1", "MODE=two"]
    assert web.replicas == 4 and web.labels["more"] == "1" and web.labels["tier"] == "front"
    assert [p.host_port for p in web.task.ports] == [18080, 1053, 18081]
    assert [(r.name, r.target) for r in api.task.secrets] == [("app_token", "/etc/token"), ("ext", "/run/secrets/ext")]
    assert list(web.task.cmd) == ["httpd", "-f", "-p", "8080"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: [\n", "c.yml: line 2 not a valid YAML file"),
        ("- a\n", "c.yml: top-level object must be a mapping"),
        (
            "services:\n  web: {image: busybox, deploy: {replicas: three}}\n",
            "c.yml: services.web.deploy.replicas must be integer",
        ),
        ("services:\n  web: {image: busybox, colour: red}\n", "c.yml: unknown key services.web.colour"),
        ("services:\n  web: {image: busybox, dns: [1.1.1.1]}\n", "c.yml: services.web.dns: not supported by svc"),
        (
            "services:\n  web: {image: busybox, deploy: {update_config: {order: random}}}\n",
            "services.web.deploy.update_config.order must be one of stop-first, start-first",
        ),
        ("services: {}\nvolume: {}\n", "c.yml: unknown key volume"),
        (
            "services:\n  web: {image: busybox, deploy: {mode: daemon}}\n",
            "services.web.deploy.mode must be one of replicated, global",
        ),
    ],
)
def test_bad_files(tmp_path: Any, text: str, message: str) -> None:
    path = _write(tmp_path, "c.yml", text)
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(".", r"\.")) as err:
        loader.load([path], {}, print)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services:\n  web: {image: busybox, networks: [nope]}\n", "service web refers to undefined network nope"),
        ("services:\n  web: {image: busybox, secrets: [nope]}\n", "service web refers to undefined secret nope"),
        (
            "services:\n  web: {image: busybox, secrets: [s]}\nsecrets:\n  s: {file: gone.txt}\n",
            "secret s: no such file: ",
        ),
        ("services:\n  web: {command: x}\n", "service web has no image"),
        ("services:\n  web: {image: busybox, volumes: ['d:/data']}\n", "service web refers to undefined volume d"),
        ("services:\n  web: {image: busybox, volumes: ['/data']}\n", "anonymous volumes are not supported"),
        (
            "services:\n  web: {image: busybox, volumes: ['d:data']}\nvolumes:\n  d:\n",
            "services.web.volumes.0: invalid mount",
        ),
        ("services:\n  web: {image: busybox, ports: ['1-2:3-4']}\n", "services.web.ports.0: invalid port spec"),
        ("services:\n  web.x: {image: busybox}\n", "service web.x: invalid service name 'app_web.x'"),
        (
            "services:\n  web: {image: busybox, deploy: {placement: {constraints: [node.colour==red]}}}\n",
            "service web: unknown constraint key 'node.colour'",
        ),
        (
            "services:\n  web: {image: busybox}\nnetworks:\n  default: {driver_opts: {encrypted: ''}}\n",
            "network default: encrypted overlay networks need IPsec ESP",
        ),
    ],
)
def test_bad_references(tmp_path: Any, text: str, message: str) -> None:
    path = _write(tmp_path, "c.yml", text)
    with pytest.raises(InvalidArgument, match=message):
        _load([path])


def test_volumes_as_mounts(tmp_path: Any) -> None:
    text = """
services:
  db:
    image: busybox
    volumes:
      - data:/data
      - ./conf:/etc/conf:ro
      - shared:/shared
      - {type: tmpfs, target: /tmp, tmpfs: {size: 64m}}
      - {type: bind, source: /srv, target: /srv, read_only: true}
volumes:
  data: {labels: {k: v}}
  shared: {external: true, name: common}
"""
    st, _ = _load([_write(tmp_path, "c.yml", text)])
    mounts = [(m.type, m.source, m.target, m.read_only) for m in st.services[0].task.mounts]
    assert mounts == [
        ("volume", "app_data", "/data", False),
        ("bind", os.path.join(str(tmp_path), "conf"), "/etc/conf", True),
        ("volume", "common", "/shared", False),
        ("tmpfs", "", "/tmp", False),
        ("bind", "/srv", "/srv", True),
    ]
    data, _, shared, tmp, _ = st.services[0].task.mounts
    assert dict(data.volume_labels) == {"k": "v", "com.docker.stack.namespace": "app"}
    assert not shared.volume_labels and tmp.tmpfs_size_bytes == 64 << 20
    with pytest.raises(InvalidArgument, match=r"c\.yml: volumes\.data\.driver_opts: not supported"):
        loader.load([_write(tmp_path, "c.yml", "volumes:\n  data: {driver_opts: {type: nfs}}\n")], {}, print)


def test_yaml_numbers_as_compose_reads_them(tmp_path: Any) -> None:
    path = _write(
        tmp_path,
        "c.yml",
        "services:\n  web: {image: busybox, ports: [22:22, 80], secrets: []}\nx-m: [0400, 1.5, 0x10]\n",
    )
    doc = loader.load([path], {}, print)
    assert doc["services"]["web"]["ports"] == ["22:22", 80] and doc["x-m"] == [0o400, 1.5, 16]


def test_alias_bomb_and_size_refused_quickly(tmp_path: Any) -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [{','.join(['*a' + str(i - 1)] * 10)}]" for i in range(1, 9)]
    path = _write(tmp_path, "bomb.yml", "x-bomb:\n" + "\n".join("  " + ln for ln in lines) + "\nservices: {}\n")
    with pytest.raises(InvalidArgument, match="too many values"):
        loader.load([path], {}, print)
    big = _write(tmp_path, "big.yml", "x: " + "y" * (loader.MAX_FILE + 1))
    with pytest.raises(InvalidArgument, match="too large"):
        loader.load([big], {}, print)


def _current(spec: Any, network_ids: dict[str, str], file_ids: dict[tuple[str, str], str]) -> Any:
    """A service as the managers store it: ids for names, the image pinned."""
    from svc.v1 import cluster_pb2 as cpb

    svc = cpb.Service(id="s1", version=7)
    svc.spec.CopyFrom(spec)
    for a in svc.spec.networks:
        a.target = network_ids[a.target]
    for r in svc.spec.task.secrets:
        r.id = file_ids[("secret", r.name)]
    svc.spec.task.image = spec.task.image + "@sha256:" + "a" * 64
    return svc


def test_plan_creates_what_is_missing_and_updates_only_what_changed(tmp_path: Any) -> None:
    path = _write(
        tmp_path,
        "c.yml",
        "services:\n  web: {image: busybox, environment: {A: '${A}'}}\n  api: {image: busybox, secrets: [s]}\n"
        "secrets:\n  s: {file: s.txt}\n  e: {external: true}\nnetworks:\n  ext: {external: {name: shared}}\n",
    )
    _write(tmp_path, "s.txt", "v")
    st, _ = _load([path], {"A": "1"})
    p = plan.make(st, [], {}, {})
    assert [n.name for n in p.networks] == ["app_default"] and [(k, s.name) for k, s in p.files] == [
        ("secret", "app_s")
    ]
    assert [s.name for s in p.create] == ["app_api", "app_web"] and not p.missing
    nets, files = {"app_default": "n1"}, {("secret", "app_s"): "f1"}
    current = [_current(s, nets, files) for s in st.services]
    p = plan.make(st, current, nets, files, resolve_image="changed")
    assert not (p.networks or p.files or p.create or p.update) and p.unchanged == ["app_api", "app_web"]
    always = plan.make(st, current, nets, files)
    assert [s.name for _, s in always.update] == ["app_api", "app_web"]  # docker asks the registry again
    st2, _ = _load([path], {"A": "2"})
    p = plan.make(st2, current, nets, files, resolve_image="changed")
    assert [(svc.version, s.name) for svc, s in p.update] == [(7, "app_web")] and p.unchanged == ["app_api"]
    assert p.update[0][1].task.image.startswith("busybox@sha256:")  # the pin kept for an unchanged image
    gone = _current(st.services[0], nets, files)
    gone.spec.name = "app_old"
    assert plan.make(st, [*current, gone], nets, files).remove == []
    assert [s.spec.name for s in plan.make(st, [*current, gone], nets, files, prune=True).remove] == ["app_old"]


def test_plan_names_missing_external_objects(tmp_path: Any) -> None:
    path = _write(
        tmp_path,
        "c.yml",
        "services:\n  web: {image: busybox, networks: [ext], secrets: [e]}\n"
        "secrets:\n  e: {external: true}\nnetworks:\n  ext: {external: {name: shared}}\n",
    )
    st, _ = _load([path])
    assert plan.make(st, [], {}, {}).missing == ["network shared", "secret e"]
    assert plan.make(st, [], {"shared": "n"}, {("secret", "e"): "x"}).missing == []


def test_stack_names() -> None:
    convert.check_namespace("my-app_1")
    with pytest.raises(InvalidArgument, match="invalid stack name"):
        convert.check_namespace("my app")
