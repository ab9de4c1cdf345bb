"""AppArmor: detected, never loaded by us.

Where the kernel has AppArmor and Docker's `docker-default` profile is loaded (by Docker or the
distribution's apparmor package), containers run under it, as with Docker. Where the kernel has no
AppArmor, or the profile is not loaded, nothing is applied (a runtime refuses a profile AppArmor does
not know), and the engine says which once, when it starts. We do not load profiles ourselves.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

PROFILE = "docker-default"
SECURITYFS = "/sys/kernel/security/apparmor"
ENABLED_PARAM = "/sys/module/apparmor/parameters/enabled"


def enabled(securityfs: str = SECURITYFS, param: str = ENABLED_PARAM) -> bool:
    """The kernel has AppArmor on: the module parameter says Y, or (without it) securityfs has its directory."""
    try:
        with open(param) as f:
            return f.read().strip().upper() in ("Y", "1")
    except OSError:
        return os.path.isdir(securityfs)


def loaded(name: str, securityfs: str = SECURITYFS) -> bool:
    """`name` is among the loaded profiles (lines `NAME (enforce)` in securityfs)."""
    try:
        with open(os.path.join(securityfs, "profiles")) as f:
            return any(line.rsplit(" (", 1)[0] == name for line in f)
    except OSError:
        return False


def container_profile(securityfs: str = SECURITYFS, param: str = ENABLED_PARAM) -> str:
    """The profile containers run under here ("" = none), logged once per engine."""
    if not enabled(securityfs, param):
        log.info("AppArmor: not available in this kernel; containers run without an AppArmor profile")
        return ""
    if not loaded(PROFILE, securityfs):
        log.info("AppArmor: enabled, but profile %s is not loaded; containers run without one", PROFILE)
        return ""
    log.info("AppArmor: containers run under profile %s", PROFILE)
    return PROFILE
