"""Failover seen from the CLI, the pure parts: which failures are whose, and what a follower retries.

A follower's forward to a dead leader is retried on the next leader; errors name the manager that
failed; the CLI blames its own target only for its own transport failures (issue #11, item 4).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest

from manager import controlapi
from manager.core import Manager
from svc import defaults
from svc.cli.wait import wait_converged
from svc.client import BROKEN, NOT_SENT, TIMED_OUT, TargetUnreachable, _failure, transport_failure
from svc.errors import DeadlineExceeded, NotFound, SvcError, Unauthenticated, Unavailable
from svc.v1 import control_pb2 as ctl

U = grpc.StatusCode.UNAVAILABLE
LEADER, NEXT, FOLLOWER = "10.0.0.1:4242", "10.0.0.3:4242", "10.0.0.2:4242"
REFUSED = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:10.0.0.1:4242: "
    "Failed to connect to remote host: Connection refused"
)
TLS = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:10.0.0.1:4242: Tls handshake failed "
    "(TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED"
)
SOCKET_CLOSED = "Stream removed (Socket closed)"


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


# ----- whose failure is it -----


def test_grpc_client_side_texts_are_transport_failures() -> None:
    assert transport_failure(U, REFUSED) == NOT_SENT
    assert transport_failure(U, TLS) == NOT_SENT
    assert transport_failure(U, "errors resolving nosuch.invalid:4242: [Domain name not found]") == NOT_SENT
    assert transport_failure(U, SOCKET_CLOSED) == BROKEN
    assert transport_failure(U, "Connection reset by peer") == BROKEN
    assert transport_failure(grpc.StatusCode.CANCELLED, "Received RST_STREAM with error code 8") == BROKEN
    assert transport_failure(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") == TIMED_OUT


def test_statuses_a_server_sent_are_not() -> None:
    for details in (
        "no leader: the managers have no quorum",
        f"leader {LEADER} is unreachable: connection refused",
        "this manager is handing over leadership; run the command again",
    ):
        assert transport_failure(U, details) is None
    assert transport_failure(grpc.StatusCode.DEADLINE_EXCEEDED, "the write did not commit in 10s") is None
    assert transport_failure(grpc.StatusCode.NOT_FOUND, "failed to connect to all addresses") is None


def test_every_forwarding_error_reads_as_sent_by_the_follower() -> None:
    # The follower's words must never look like gRPC's, or the CLI would blame its own target.
    for kind in (NOT_SENT, BROKEN, TIMED_OUT):
        for details in (REFUSED, TLS, SOCKET_CLOSED, "Deadline Exceeded", "keepalive watchdog timeout"):
            for safe in (True, False):
                err = controlapi.forward_error("CreateService", LEADER, kind, details, safe)
                assert LEADER in err.message
                assert transport_failure(U, err.message) is None, err.message
                assert transport_failure(grpc.StatusCode.DEADLINE_EXCEEDED, err.message) is None


def test_the_follower_names_the_leader_in_its_own_words() -> None:
    err = controlapi.forward_error("GetService", LEADER, NOT_SENT, REFUSED, True)
    assert isinstance(err, Unavailable) and err.message == f"leader {LEADER} is unreachable: connection refused"
    err = controlapi.forward_error("CreateService", LEADER, BROKEN, SOCKET_CLOSED, False)
    assert isinstance(err, Unavailable) and "may or may not have been applied" in err.message
    assert err.message.startswith(f"leader {LEADER} failed during CreateService: connection lost")
    err = controlapi.forward_error("RemoveService", LEADER, TIMED_OUT, "Deadline Exceeded", False)
    assert isinstance(err, DeadlineExceeded) and "may or may not" in err.message


def test_the_cli_passes_on_an_unavailable_a_follower_sent() -> None:
    exc = rpc_error(U, f"leader {LEADER} is unreachable: connection refused")
    err = _failure(exc, FOLLOWER)
    assert type(err) is Unavailable and err.message == f"leader {LEADER} is unreachable: connection refused"
    assert FOLLOWER not in err.message


def test_the_cli_blames_its_own_target_only_for_its_own_transport() -> None:
    exc = rpc_error(U, REFUSED.replace(LEADER, FOLLOWER))
    err = _failure(exc, FOLLOWER)
    assert isinstance(err, TargetUnreachable) and err.message.startswith(f"cannot reach {FOLLOWER}")
    exc = rpc_error(U, TLS)
    assert "do not trust each other" in _failure(exc, FOLLOWER).message
    assert isinstance(_failure(exc, FOLLOWER), Unauthenticated)
    exc = rpc_error(U, SOCKET_CLOSED)
    err = _failure(exc, FOLLOWER)
    assert isinstance(err, TargetUnreachable) and f"lost the connection to {FOLLOWER}" in err.message
    # A server's message that mentions certificates is its own, not a TLS failure of ours.
    exc = rpc_error(U, "this manager has not received the cluster CA certificate yet")
    assert type(_failure(exc, FOLLOWER)) is Unavailable
    exc = rpc_error(U, "failed to connect to all addresses; last error: unix:/run/svc/engine.sock: No such file")
    assert "is `svcd node` running?" in _failure(exc, "unix:/run/svc/engine.sock").message


def test_which_calls_may_run_twice() -> None:
    for method in ("GetService", "ListServices", "ListTasks", "GetNode", "ListNodes", "ClusterInfo", "ScaleService"):
        assert controlapi.retry_safe(method, None)
    for method in ("CreateService", "UpdateService", "RemoveService", "RollbackService", "UpdateNode", "RemoveNode"):
        assert not controlapi.retry_safe(method, None)
    assert controlapi.retry_safe("JoinToken", ctl.JoinTokenRequest(role="worker"))
    assert not controlapi.retry_safe("JoinToken", ctl.JoinTokenRequest(role="worker", rotate=True))


# ----- the follower's forwarding, with a scripted cluster -----


class FakeManager:
    """A follower whose Raft view of the leader the test changes; the real leader_address logic."""

    api_addr = FOLLOWER
    leader_address = Manager.leader_address

    def __init__(self, leader: str | None) -> None:
        self.leader: str | None = leader
        self.is_leader = False

    def leader_api_addr(self) -> str | None:
        return self.api_addr if self.is_leader else self.leader

    def channel(self, addr: str) -> str:
        return addr


class FakeStub:
    """Answers per leader address: an exception to raise, or a value to return."""

    script: dict[str, Any] = {}
    calls: list[tuple[str, str, float]] = []

    def __init__(self, channel: str) -> None:
        self.addr = channel

    def __getattr__(self, method: str) -> Any:
        async def call(request: Any, timeout: float) -> Any:
            FakeStub.calls.append((self.addr, method, timeout))
            answer = FakeStub.script[self.addr]
            if isinstance(answer, BaseException):
                raise answer
            return answer

        return call


class Context:
    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining

    def time_remaining(self) -> float | None:
        return self.remaining


class Service:
    def __init__(self, m: FakeManager) -> None:
        self.m = m

    @controlapi.on_leader
    async def GetService(self, request: Any, context: Any) -> Any:
        return "ran here"

    @controlapi.on_leader
    async def ScaleService(self, request: Any, context: Any) -> Any:
        return "ran here"

    @controlapi.on_leader
    async def CreateService(self, request: Any, context: Any) -> Any:
        return "ran here"


@pytest.fixture(autouse=True)
def fake_stub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controlapi.ctl_grpc, "ControlStub", FakeStub)
    monkeypatch.setattr(defaults, "FORWARD_RETRY_SECONDS", 2.0)
    monkeypatch.setattr(defaults, "FORWARD_RETRY_PAUSE_SECONDS", 0.3)
    FakeStub.script, FakeStub.calls = {}, []


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def later(delay: float, fn: Any) -> None:
    await asyncio.sleep(delay)
    fn()


def test_a_call_the_dead_leader_never_got_is_retried_on_the_next_leader() -> None:
    m = FakeManager(LEADER)
    FakeStub.script = {LEADER: rpc_error(U, REFUSED), NEXT: "from the new leader"}

    async def scenario() -> Any:
        elect = asyncio.ensure_future(later(0.2, lambda: setattr(m, "leader", NEXT)))  # within a pause
        result = await Service(m).CreateService(None, Context(60.0))  # a write: safe, it never arrived
        await elect
        return result

    assert run(scenario()) == "from the new leader"
    assert [addr for addr, _, _ in FakeStub.calls] == [LEADER, NEXT]  # waited for the election, no busy retries
    assert all(timeout <= 60.0 - defaults.FORWARD_ANSWER_MARGIN_SECONDS for _, _, timeout in FakeStub.calls)


def test_a_read_that_broke_mid_call_is_retried_and_so_is_scale() -> None:
    for method in ("GetService", "ScaleService"):
        m = FakeManager(LEADER)
        FakeStub.script = {LEADER: rpc_error(U, SOCKET_CLOSED), NEXT: "answer"}

        async def scenario(method: str = method, m: FakeManager = m) -> Any:
            elect = asyncio.ensure_future(later(0.2, lambda: setattr(m, "leader", NEXT)))
            result = await getattr(Service(m), method)(None, Context(60.0))
            await elect
            return result

        assert run(scenario()) == "answer"


def test_a_write_that_broke_mid_call_says_its_outcome_is_unknown() -> None:
    m = FakeManager(LEADER)
    FakeStub.script = {LEADER: rpc_error(U, SOCKET_CLOSED), NEXT: "must not be called"}
    with pytest.raises(Unavailable) as exc:
        run(Service(m).CreateService(None, Context(60.0)))
    assert LEADER in exc.value.message and "may or may not have been applied" in exc.value.message
    assert [addr for addr, _, _ in FakeStub.calls] == [LEADER]


def test_the_leaders_own_answer_is_passed_on_not_retried() -> None:
    m = FakeManager(LEADER)
    FakeStub.script = {LEADER: rpc_error(grpc.StatusCode.NOT_FOUND, "no such service: web")}
    with pytest.raises(NotFound, match="no such service: web"):
        run(Service(m).GetService(None, Context(60.0)))
    FakeStub.script = {LEADER: rpc_error(U, "no leader: the managers have no quorum")}
    with pytest.raises(Unavailable, match=r"^no leader"):
        run(Service(m).GetService(None, Context(60.0)))
    assert len(FakeStub.calls) == 2


def test_this_manager_elected_meanwhile_runs_the_call_itself() -> None:
    m = FakeManager(LEADER)
    FakeStub.script = {LEADER: rpc_error(U, REFUSED)}

    async def scenario() -> Any:
        elect = asyncio.ensure_future(later(0.3, lambda: setattr(m, "is_leader", True)))
        result = await Service(m).GetService(None, Context(60.0))
        await elect
        return result

    assert run(scenario()) == "ran here"


def test_no_new_leader_in_time_names_the_dead_one() -> None:
    m = FakeManager(LEADER)  # the others cannot elect anyone: Raft here keeps naming the dead leader
    FakeStub.script = {LEADER: rpc_error(U, REFUSED)}
    start = time.monotonic()
    with pytest.raises(Unavailable) as exc:
        run(Service(m).GetService(None, Context(60.0)))
    took = time.monotonic() - start
    assert exc.value.message == f"leader {LEADER} is unreachable: connection refused; no other manager has taken over"
    assert defaults.FORWARD_RETRY_SECONDS <= took < defaults.FORWARD_RETRY_SECONDS + 1.5
    assert 2 <= len(FakeStub.calls) <= 1 + defaults.FORWARD_RETRY_SECONDS / defaults.FORWARD_RETRY_PAUSE_SECONDS + 1


def test_retries_stay_within_the_callers_deadline() -> None:
    m = FakeManager(LEADER)
    FakeStub.script = {LEADER: rpc_error(U, REFUSED)}
    start = time.monotonic()
    with pytest.raises(Unavailable):
        run(Service(m).GetService(None, Context(1.5)))
    assert time.monotonic() - start < 1.5


# ----- the CLI's wait: reads retried through an election -----


class FlakyClient:
    """GetService fails `failures` times with `error`, then answers a converged service."""

    def __init__(self, error: SvcError, failures: int) -> None:
        self.error, self.failures, self.calls = error, failures, 0

    def GetService(self, request: Any, timeout: float) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        from svc.v1 import cluster_pb2 as cpb

        return cpb.Service(spec=cpb.ServiceSpec(name=request.service), running=3, desired=3)

    def ListTasks(self, request: Any, timeout: float) -> Any:
        return ctl.ListTasksResponse()


def test_the_wait_reads_through_an_election(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr(defaults, "CLI_WAIT_RETRY_SECONDS", 0.01)
    c = FlakyClient(Unavailable(f"leader {LEADER} is unreachable: connection refused"), 5)
    assert wait_converged(c, ["web"], timeout=10) == 0
    assert "web: 3/3 running" in capsys.readouterr().out


def test_the_wait_gives_up_on_its_own_lost_manager(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr(defaults, "CLI_WAIT_RETRY_SECONDS", 0.01)
    monkeypatch.setattr(defaults, "CLI_TARGET_LOST_SECONDS", 0.2)
    c = FlakyClient(TargetUnreachable(f"cannot reach {FOLLOWER}: is the manager running and reachable?"), 10**6)
    start = time.monotonic()
    assert wait_converged(c, ["web"], timeout=60) == 1
    assert time.monotonic() - start < 5
    assert f"svc: web: not converged: cannot follow it: cannot reach {FOLLOWER}" in capsys.readouterr().err


def test_the_wait_does_not_retry_a_real_answer(capsys: Any) -> None:
    c = FlakyClient(NotFound("no such service: web"), 10**6)
    assert wait_converged(c, ["web"], timeout=60) == 1
    assert c.calls == 1 and "no such service: web" in capsys.readouterr().err
