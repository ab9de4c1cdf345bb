"""Sizes, CPU counts, durations and signals as people type them (Docker's spellings)."""

from __future__ import annotations

import re
import signal

from svc.errors import InvalidArgument

_SIZE_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b?)$", re.IGNORECASE)
_MULT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DURATION_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|us|ns|s|m|h)")
_DURATION_MULT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_size(text: str, what: str = "size") -> int:
    """`64m`, `1g`, `512k`, `1048576` -> bytes (binary multiples, as Docker)."""
    m = _SIZE_RE.match(text.strip())
    if not m:
        raise InvalidArgument(f"invalid {what} {text!r}: use a number with an optional unit k, m, g (e.g. 64m)")
    value = float(m.group(1)) * _MULT[m.group(2).lower()]
    if value < 1:
        raise InvalidArgument(f"invalid {what} {text!r}: must be positive")
    return int(value)


def format_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}TiB"


def human_size(n: float) -> str:
    """Docker's units.HumanSize: decimal units, 4 significant digits (`1.235MB`, `0B`)."""
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.4g}{units[i]}"


def parse_cpus(text: str) -> int:
    """`1.5` CPUs -> nano CPUs."""
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgument(f"invalid CPU count {text!r}: use a number such as 0.5 or 2") from None
    if not 0 < value <= 4096:
        raise InvalidArgument(f"invalid CPU count {text!r}: must be greater than 0")
    return round(value * 1e9)


def parse_duration(text: str, what: str = "duration") -> float:
    """`30s`, `1m30s`, `500ms`, or a bare number of seconds -> seconds."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pos, value = 0, 0.0
        for m in _DURATION_RE.finditer(text):
            if m.start() != pos:
                break
            value += float(m.group(1)) * _DURATION_MULT[m.group(2)]
            pos = m.end()
        if pos != len(text) or not text:
            raise InvalidArgument(f"invalid {what} {text!r}: use e.g. 30s, 1m30s or 500ms") from None
    if value < 0:
        raise InvalidArgument(f"invalid {what} {text!r}: must not be negative")
    return value


def parse_signal(text: str) -> int:
    """`SIGTERM`, `TERM`, `15` -> signal number."""
    t = text.strip().upper()
    if t.isdigit():
        num = int(t)
        if 0 < num < signal.NSIG:
            return num
    else:
        name = t if t.startswith("SIG") else "SIG" + t
        sig = getattr(signal.Signals, name, None) if name in signal.Signals.__members__ else None
        if sig is not None:
            return int(sig)
    raise InvalidArgument(f"invalid signal {text!r}")
