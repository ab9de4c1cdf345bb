"""A service's update and rollback policy (Swarm's UpdateConfig/RollbackConfig): its rules, pure.

One message type holds both; an unset field takes Swarm's default (svc/defaults.py), so a spec
stores only what its author chose. `effective` gives the policy the managers follow, `validate`
refuses what cannot be followed (one line naming the flag), `set_from_flags` applies the CLI's
`--update-*`/`--rollback-*` values. A rollback_config cannot say `rollback` (Swarm's rule).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from svc import defaults
from svc.errors import InvalidArgument

FAILURE_ACTIONS = ("pause", "continue", "rollback")
ROLLBACK_FAILURE_ACTIONS = ("pause", "continue")
ORDERS = ("stop-first", "start-first")
FIELDS = ("parallelism", "delay", "failure-action", "monitor", "max-failure-ratio", "order")


# Immutable; a NamedTuple rather than a frozen dataclass: every CLI command imports this module, and
# dataclasses (with inspect) would cost it ~8 ms.
class Policy(NamedTuple):
    parallelism: int  # 0: every task at once
    delay: float
    failure_action: str
    monitor: float
    max_failure_ratio: float
    order: str


def effective(config: Any) -> Policy:
    """The policy an UpdateConfig message (possibly empty) stands for."""
    return Policy(
        parallelism=config.parallelism if config.HasField("parallelism") else defaults.UPDATE_PARALLELISM,
        delay=config.delay_seconds if config.HasField("delay_seconds") else defaults.UPDATE_DELAY_SECONDS,
        failure_action=config.failure_action or defaults.UPDATE_FAILURE_ACTION,
        monitor=config.monitor_seconds if config.HasField("monitor_seconds") else defaults.UPDATE_MONITOR_SECONDS,
        max_failure_ratio=(
            config.max_failure_ratio if config.HasField("max_failure_ratio") else defaults.UPDATE_MAX_FAILURE_RATIO
        ),
        order=config.order or defaults.UPDATE_ORDER,
    )


def validate(config: Any, rollback: bool = False, where: str = "") -> None:
    """InvalidArgument naming the flag (or, with `where`, the compose key), for a value the managers could
    not follow."""
    prefix = "--rollback-" if rollback else "--update-"

    def name(field: str) -> str:
        return f"{where}.{field.replace('-', '_')}" if where else prefix + field

    actions = ROLLBACK_FAILURE_ACTIONS if rollback else FAILURE_ACTIONS
    if config.failure_action and config.failure_action not in actions:
        choices = f"{', '.join(actions[:-1])} or {actions[-1]}"
        raise InvalidArgument(f"invalid {name('failure-action')} {config.failure_action!r}: use {choices}")
    if config.order and config.order not in ORDERS:
        raise InvalidArgument(f"invalid {name('order')} {config.order!r}: use stop-first or start-first")
    if config.HasField("delay_seconds") and config.delay_seconds < 0:
        raise InvalidArgument(f"{name('delay')} must not be negative")
    if config.HasField("monitor_seconds") and config.monitor_seconds < 0:
        raise InvalidArgument(f"{name('monitor')} must not be negative")
    if config.HasField("max_failure_ratio") and not 0 <= config.max_failure_ratio <= 1:
        raise InvalidArgument(f"invalid {name('max-failure-ratio')} {config.max_failure_ratio:g}: use 0 to 1")
    if config.HasField("parallelism") and config.parallelism > defaults.MAX_REPLICAS:
        raise InvalidArgument(f"{name('parallelism')} must be at most {defaults.MAX_REPLICAS}")


def add_flags(p: Any) -> None:
    """`--update-*` and `--rollback-*` on `svc create` and `svc update` (docker's names)."""
    for kind in ("update", "rollback"):
        what = "an update" if kind == "update" else "a rollback"
        actions = "pause, continue or rollback" if kind == "update" else "pause or continue"
        p.add_argument(f"--{kind}-parallelism", metavar="N", help=f"tasks {what} replaces at once (0: all; default 1)")
        p.add_argument(f"--{kind}-delay", metavar="DURATION", help=f"delay between {what}'s task replacements (0s)")
        p.add_argument(f"--{kind}-failure-action", metavar="ACTION", help=f"on a failure: {actions} (pause)")
        p.add_argument(f"--{kind}-monitor", metavar="DURATION", help="how long a new task is watched for failure (5s)")
        p.add_argument(f"--{kind}-max-failure-ratio", metavar="RATIO", help="failures tolerated, 0 to 1 (0)")
        p.add_argument(f"--{kind}-order", metavar="ORDER", help="stop-first (default) or start-first")


def set_from_flags(spec: Any, args: Any) -> None:
    """Apply the given `--update-*`/`--rollback-*` flags to spec.update_config/rollback_config and check them."""
    from svc.units import parse_duration

    for kind in ("update", "rollback"):
        config = getattr(spec, f"{kind}_config")
        value = getattr(args, f"{kind}_parallelism", None)
        if value is not None:
            if not value.isdigit():
                raise InvalidArgument(f"invalid --{kind}-parallelism {value!r}: use a whole number, 0 for all at once")
            config.parallelism = int(value)
        value = getattr(args, f"{kind}_delay", None)
        if value is not None:
            config.delay_seconds = parse_duration(value, f"--{kind}-delay")
        value = getattr(args, f"{kind}_monitor", None)
        if value is not None:
            config.monitor_seconds = parse_duration(value, f"--{kind}-monitor")
        value = getattr(args, f"{kind}_max_failure_ratio", None)
        if value is not None:
            try:
                config.max_failure_ratio = float(value)
            except ValueError:
                raise InvalidArgument(
                    f"invalid --{kind}-max-failure-ratio {value!r}: use a number from 0 to 1"
                ) from None
        for name in ("failure_action", "order"):
            value = getattr(args, f"{kind}_{name}", None)
            if value is not None:
                setattr(config, name, value)
        validate(config, rollback=kind == "rollback")


def pretty(config: Any, rollback: bool = False) -> list[str]:
    """docker's `service inspect --pretty` lines for an UpdateConfig/RollbackConfig."""
    p = effective(config)
    lines = [f" Parallelism:\t{p.parallelism}"]
    if p.delay:
        lines.append(f" Delay:\t\t{go_duration(p.delay)}")
    lines.append(f" On failure:\t{p.failure_action}")
    lines.append(f" Monitoring Period: {go_duration(p.monitor)}")
    lines.append(f" Max failure ratio: {p.max_failure_ratio:g}")
    lines.append(f" Update order:      {p.order}" if not rollback else f" Rollback order:    {p.order}")
    return lines


def go_duration(seconds: float) -> str:
    """Go's time.Duration text, as docker prints durations: 0s, 500ms, 5s, 1m30s, 1h0m0s."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms" if seconds else "0s"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    text = f"{s:g}s"
    if h or m:
        text = f"{int(m)}m" + text
    if h:
        text = f"{int(h)}h" + text
    return text
