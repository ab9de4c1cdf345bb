"""A NetworkSpec's rules are svc/networkspec.py's (pure, shared with the CLI); here for the managers' imports."""

from svc.networkspec import DRIVERS, OPTIONS, validate

__all__ = ["DRIVERS", "OPTIONS", "validate"]
