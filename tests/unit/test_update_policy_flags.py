"""`--update-*`, `--rollback-*` and `--placement-pref` on `svc create|update`, their refusals, `inspect
--pretty`'s lines and the wait's reading of a rollout status; all without a cluster."""

from __future__ import annotations

import pytest

from svc import servicespec, updatepolicy
from svc.cli import waitplan
from svc.cli.inspectview import pretty_service
from svc.cli.main import parser
from svc.constraints import parse_preference
from svc.errors import InvalidArgument
from svc.v1 import cluster_pb2 as cpb


def spec_of(*flags: str) -> cpb.ServiceSpec:
    args = parser().parse_args(["create", *flags, "busybox"])
    spec = cpb.ServiceSpec(name="web")
    spec.task.image = "busybox"
    updatepolicy.set_from_flags(spec, args)
    return spec


def test_flags_set_only_what_is_given_and_defaults_are_swarms() -> None:
    spec = spec_of(
        "--update-parallelism", "2", "--update-delay", "10s", "--update-order", "start-first",
        "--update-failure-action", "rollback", "--update-monitor", "1m", "--update-max-failure-ratio", "0.25",
        "--rollback-parallelism", "0", "--rollback-failure-action", "continue",
    )  # fmt: skip
    u = updatepolicy.effective(spec.update_config)
    assert (u.parallelism, u.delay, u.order, u.failure_action, u.monitor, u.max_failure_ratio) == (
        2, 10.0, "start-first", "rollback", 60.0, 0.25,
    )  # fmt: skip
    r = updatepolicy.effective(spec.rollback_config)
    assert (r.parallelism, r.failure_action, r.order, r.monitor) == (0, "continue", "stop-first", 5.0)
    assert updatepolicy.effective(cpb.UpdateConfig()) == updatepolicy.Policy(1, 0.0, "pause", 5.0, 0.0, "stop-first")
    assert not spec_of().HasField("update_config")  # nothing given: nothing stored, the defaults apply


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--update-parallelism=-1"], "invalid --update-parallelism '-1': use a whole number"),
        (["--update-parallelism", "two"], "invalid --update-parallelism 'two'"),
        (["--update-delay", "soon"], "invalid --update-delay 'soon'"),
        (["--update-failure-action", "explode"], "invalid --update-failure-action 'explode': use pause, continue or"),
        (["--rollback-failure-action", "rollback"], "invalid --rollback-failure-action 'rollback': use pause or"),
        (["--update-order", "random"], "invalid --update-order 'random': use stop-first or start-first"),
        (["--rollback-max-failure-ratio", "2"], "invalid --rollback-max-failure-ratio 2: use 0 to 1"),
        (["--update-max-failure-ratio", "x"], "invalid --update-max-failure-ratio 'x'"),
        (["--update-monitor=-5s"], "invalid --update-monitor"),
    ],
)
def test_bad_values_are_refused_in_one_line(flags: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        spec_of(*flags)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_managers_refuse_the_same_in_a_spec() -> None:
    spec = cpb.ServiceSpec(name="web")
    spec.task.image = "busybox"
    spec.rollback_config.failure_action = "rollback"
    with pytest.raises(InvalidArgument, match="rollback-failure-action"):
        servicespec.validate(spec)
    spec.rollback_config.failure_action = ""
    spec.placement.preferences.add(spread="zone")
    with pytest.raises(InvalidArgument, match=r"spread=node\.labels\.KEY"):
        servicespec.validate(spec)


def test_placement_pref_syntax() -> None:
    assert parse_preference("spread=node.labels.zone") == "node.labels.zone"
    for bad in ("node.labels.zone", "pack=node.labels.zone", "spread=node.labels.", "spread=node.hostname"):
        with pytest.raises(InvalidArgument, match="placement"):
            parse_preference(bad)


def test_pretty_shows_the_policy_and_status_as_docker() -> None:
    svc = cpb.Service(id="x", spec=spec_of("--update-parallelism", "2", "--update-delay", "10s"))
    svc.spec.placement.preferences.add(spread="node.labels.zone")
    svc.update_status.CopyFrom(cpb.UpdateStatus(state="paused", started_at=1.0, message="update paused due to ..."))
    text = pretty_service(svc)
    assert "UpdateStatus:\n State:\t\tpaused\n Started:\t" in text and " Message:\tupdate paused due to ...\n" in text
    assert " Preferences:   [Spread=node.labels.zone]" in text
    assert "UpdateConfig:\n Parallelism:\t2\n Delay:\t\t10s\n On failure:\tpause\n Monitoring Period: 5s\n" in text
    assert (
        "RollbackConfig:\n Parallelism:\t1\n On failure:\tpause\n" in text and " Rollback order:    stop-first" in text
    )


def test_the_wait_reads_the_rollout_its_write_started() -> None:
    svc = cpb.Service()
    assert waitplan.rollout_state(svc, 10.0) == ""
    svc.update_status.CopyFrom(cpb.UpdateStatus(state="paused", started_at=5.0, message="old"))
    assert waitplan.rollout_state(svc, 10.0) == "" and waitplan.rollout_failure(svc, 10.0) == ""  # an earlier one
    svc.update_status.CopyFrom(cpb.UpdateStatus(state="paused", started_at=11.0, message="update paused due to x"))
    assert waitplan.rollout_failure(svc, 10.0) == "paused: update paused due to x"
    svc.update_status.state = "rollback_started"
    assert waitplan.rollout_state(svc, 10.0) in waitplan.ROLLBACK_STATES and waitplan.rollout_failure(svc, 10.0) == ""
