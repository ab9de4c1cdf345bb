"""Daemon logging: to stderr (the journal collects it), as text or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
import time

from svc.errors import InvalidArgument


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def configure(level: str = "info", fmt: str = "text", prefix: str = "") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise InvalidArgument(f"unknown log level {level!r}: use debug, info, warning or error")
    if fmt not in ("text", "json"):
        raise InvalidArgument(f"unknown log format {fmt!r}: use text or json")
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {prefix}%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    logging.getLogger("pysyncobj").setLevel(max(numeric, logging.WARNING))
