"""Compose's deploy.update_config, deploy.rollback_config and deploy.placement.preferences in a stack:
mapped onto the spec's UpdateConfig/RollbackConfig and placement preferences, bad values refused by key."""

from __future__ import annotations

import os
from typing import Any

import pytest

from svc import updatepolicy
from svc.errors import InvalidArgument
from svc.stack import convert, loader

APP = """
services:
  web:
    image: busybox
    deploy:
      replicas: 4
      placement:
        preferences:
          - spread: node.labels.zone
          - spread: node.labels.rack
      update_config:
        parallelism: ${PAR}
        delay: 10s
        failure_action: rollback
        monitor: 30s
        max_failure_ratio: 0.25
        order: start-first
      rollback_config:
        parallelism: 0
        failure_action: continue
"""


def _stack(tmp: Any, text: str, env: dict[str, str] | None = None) -> convert.Stack:
    path = os.path.join(str(tmp), "docker-compose.yml")
    with open(path, "w") as f:
        f.write(text)
    doc = loader.load([path], env or {}, print)
    return convert.convert(doc, "app", str(tmp), env or {})


def test_update_and_rollback_config_and_preferences_are_mapped(tmp_path: Any) -> None:
    (web,) = _stack(tmp_path, APP, {"PAR": "2"}).services
    u = updatepolicy.effective(web.update_config)
    assert u == updatepolicy.Policy(2, 10.0, "rollback", 30.0, 0.25, "start-first")
    r = updatepolicy.effective(web.rollback_config)
    assert r == updatepolicy.Policy(0, 0.0, "continue", 5.0, 0.0, "stop-first")
    assert [p.spread for p in web.placement.preferences] == ["node.labels.zone", "node.labels.rack"]
    (plain,) = _stack(tmp_path, "services:\n  web: {image: busybox}\n").services
    assert updatepolicy.effective(plain.update_config) == updatepolicy.effective(plain.rollback_config)


@pytest.mark.parametrize(
    ("deploy", "message"),
    [
        ("{update_config: {failure_action: explode}}", "invalid services.web.deploy.update_config.failure_action"),
        ("{rollback_config: {failure_action: rollback}}", "rollback_config.failure_action 'rollback': use pause or"),
        ("{update_config: {max_failure_ratio: 3}}", "invalid services.web.deploy.update_config.max_failure_ratio 3"),
        ("{update_config: {delay: soon}}", "invalid services.web.deploy.update_config.delay 'soon'"),
        ("{placement: {preferences: [{spread: zone}]}}", "invalid placement preference spread='zone'"),
    ],
)
def test_bad_values_are_refused_naming_the_key(tmp_path: Any, deploy: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:  # the managers' rules, checked before the first write
        _stack(tmp_path, f"services:\n  web: {{image: busybox, deploy: {deploy}}}\n")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_no_update_config_leaves_the_spec_without_one(tmp_path: Any) -> None:
    # a redeploy of a file written before these keys existed must not see a changed spec
    (web,) = _stack(tmp_path, "services:\n  web: {image: busybox, deploy: {update_config: {}}}\n").services
    assert not web.HasField("update_config") and not web.HasField("rollback_config")
