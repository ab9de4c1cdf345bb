"""A pull or a push as a stream of progress: the engine's registry transfer in a thread, its events handed on.

The one implementation both local APIs use (the gRPC PullImage/PushImage, the Docker API's
/images/create and /images/{name}/push): the transfer runs on its own thread, each Progress is
yielded as it comes (a pull's last one names the image: `Status: Downloaded REF`), a failure is
raised to the consumer, and image GC is woken after a pull.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from .registry import pull, push


def pull_progress(
    engine: Any, reference: str, platform: str = "", creds: tuple[str, str] | None = None
) -> Iterator[pull.Progress]:
    config = engine.registry_settings()
    events: queue.Queue[object] = queue.Queue()
    done = object()
    result: list[object] = []

    def work() -> None:
        try:
            result.append(pull.pull(engine.images, reference, config, platform, events.put, creds))
        except BaseException as exc:
            result.append(exc)
        finally:
            engine.image_gc.wake()
            events.put(done)

    threading.Thread(target=work, name="pull", daemon=True).start()
    while True:
        item = events.get()
        if item is done:
            break
        yield item  # type: ignore[misc]
    if isinstance(result[0], BaseException):
        raise result[0]
    yield pull.Progress(status=f"Status: Downloaded {reference}", image_id=result[0].id)  # type: ignore[attr-defined]


def push_progress(engine: Any, reference: str, creds: tuple[str, str] | None = None) -> Iterator[pull.Progress]:
    push.local_image(engine.images, reference)  # NotFound before anything is sent
    config = engine.registry_settings()
    events: queue.Queue[object] = queue.Queue()
    done = object()
    failed: list[BaseException] = []

    def work() -> None:
        try:
            push.push(engine.images, reference, config, events.put, creds)
        except BaseException as exc:
            failed.append(exc)
        finally:
            events.put(done)

    threading.Thread(target=work, name="push", daemon=True).start()
    while (item := events.get()) is not done:
        yield item  # type: ignore[misc]
    if failed:
        raise failed[0]
