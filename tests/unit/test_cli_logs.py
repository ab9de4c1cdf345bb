"""`svc logs`' pure parts: docker's --since/--until forms, `-t` stamps, time order (also when following)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from svc.cli import logs
from svc.errors import InvalidArgument

NOW = 1796134189.0  # 2026-12-01T14:09:49Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", NOW - 600),
        ("1h30m", NOW - 5400),
        ("90s", NOW - 90),
        ("1796134000", 1796134000.0),
        ("1796134000.25", 1796134000.25),
        ("2026-12-01T14:09:49Z", NOW),
        ("2026-12-01T14:09:49.5Z", NOW + 0.5),
        ("2026-12-01T15:09:49+01:00", NOW),
        ("2026-12-01T14:09:49", NOW),
        ("2026-12-01T14:09", NOW - 49),
        ("2026-12-01", NOW - (14 * 3600 + 9 * 60 + 49)),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert logs.parse_time(text, NOW) == pytest.approx(expected)


def test_parse_time_refuses_nonsense() -> None:
    with pytest.raises(InvalidArgument, match="invalid --until 'soon': use a duration"):
        logs.parse_time("soon", NOW, "--until")


def test_stamp_and_window() -> None:
    assert logs.stamp(NOW + 0.123456) == "2026-12-01T14:09:49.123456000Z"
    assert logs.stamp(NOW) == "2026-12-01T14:09:49.000000000Z"
    assert logs.in_window(5, 5, 6) and not logs.in_window(4, 5, None) and not logs.in_window(7, None, 6)


def msg(t: float, data: str) -> SimpleNamespace:
    return SimpleNamespace(time=t, data=data)


def test_ordered_is_stable() -> None:
    got = logs.ordered([msg(3, "c"), msg(1, "a1"), msg(2, "b"), msg(1, "a2")])
    assert [m.data for m in got] == ["a1", "a2", "b", "c"]


def test_held_reorders_a_followed_stream() -> None:
    def stream():  # type: ignore[no-untyped-def]
        yield msg(2, "second")
        time.sleep(0.05)
        yield msg(1, "first (from a slower node)")
        time.sleep(0.5)
        yield msg(3, "third")

    assert [m.data for m in logs.held(stream(), hold=0.2)] == ["first (from a slower node)", "second", "third"]


def test_held_raises_the_streams_error() -> None:
    def stream():  # type: ignore[no-untyped-def]
        yield msg(1, "a")
        raise InvalidArgument("gone")

    with pytest.raises(InvalidArgument, match="gone"):
        list(logs.held(stream(), hold=0.01))


def test_details_adds_the_tasks_labels_column(monkeypatch, capsysbinary) -> None:  # type: ignore[no-untyped-def]
    from svc.cli import service
    from svc.v1 import cluster_pb2 as cpb
    from svc.v1 import control_pb2 as ctl

    class Client:
        def stream(self, method: str, request: object) -> list[object]:
            mk = ctl.ServiceLogMessage
            return [
                mk(task_id="t2", task_name="web.2", node_hostname="n", time=NOW + 1, stream="stdout", data=b"two\n"),
                mk(task_id="t1", task_name="web.1", node_hostname="n", time=NOW, stream="stdout", data=b"one\n"),
            ]

        def ListTasks(self, request: object) -> object:
            labelled = cpb.Task(id="t1")
            labelled.spec.labels.update({"tier": "front", "app": "web"})
            return SimpleNamespace(tasks=[labelled, cpb.Task(id="t2")])

        def close(self) -> None:
            pass

    monkeypatch.setattr(service, "client", lambda args: Client())
    args = SimpleNamespace(
        service="web", follow=False, tail=0, since="", until="", timestamps=False, no_task_ids=False, raw=False
    )
    args.details = True
    assert logs.cmd_logs(args) == 0
    out = capsysbinary.readouterr().out
    assert out == b"web.1@n    | app=web,tier=front one\nweb.2@n    |  two\n"
