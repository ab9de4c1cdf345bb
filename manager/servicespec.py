"""A ServiceSpec's rules are svc/servicespec.py's (pure, shared with the CLI); here for the managers' imports."""

from svc.servicespec import MODES, RESTART_CONDITIONS, validate

__all__ = ["MODES", "RESTART_CONDITIONS", "validate"]
