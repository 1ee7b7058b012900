"""The sync client: the async core driven on one private event-loop thread,
so both share every line of protocol, retry and ack logic."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterable
from typing import Any

from ._aio import AsyncClient, AsyncPendingSend
from ._core import Ack, ClosedError, Event


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="raccoon-client", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


class PendingSend:
    """One send in flight: `req_guid` at once; `result(timeout)` blocks for
    its Ack or raises its RaccoonError (TimeoutError if `timeout` passes
    first; the send itself goes on)."""

    def __init__(self, inner: AsyncPendingSend) -> None:
        self.req_guid = inner.req_guid
        self._inner = inner
        self._future: concurrent.futures.Future[Ack] = concurrent.futures.Future()
        # Runs on the loop thread, where the inner future completes.
        inner.add_done_callback(self._transfer)

    def _transfer(self, f: asyncio.Future[Ack]) -> None:
        error = f.exception()
        if error is not None:
            self._future.set_exception(error)
        else:
            self._future.set_result(f.result())

    @property
    def attempts(self) -> int:
        return self._inner.attempts

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> Ack:
        try:
            return self._future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"raccoon: no result for {self.req_guid} within {timeout}s") from None


class Client:
    """The blocking twin of AsyncClient, with the same arguments; safe for
    many threads. Use as `with Client(...) as c`: connects, and closes with
    `close_timeout` on exit. Callbacks run on the client's own thread."""

    def __init__(self, target: str, **options: Any) -> None:
        self._loop = _LoopThread()
        try:
            self._async = self._loop.run(self._make(target, options))
        except BaseException:
            self._loop.stop()
            raise

    @staticmethod
    async def _make(target: str, options: dict[str, Any]) -> AsyncClient:
        return AsyncClient(target, **options)

    @property
    def protocol(self) -> str:
        return self._async.protocol

    @property
    def pending_count(self) -> int:
        return self._async.pending_count

    def connect(self) -> Client:
        self._loop.run(self._async.connect())
        return self

    def __enter__(self) -> Client:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, events: Iterable[Event], *, req_guid: str | None = None) -> PendingSend:
        """Sends one batch; returns once it is handed to the connection."""
        events = list(events)
        if not self._loop.thread.is_alive():
            raise ClosedError(req_guid=req_guid or "")
        return self._loop.run(self._send(events, req_guid))

    async def _send(self, events: list[Event], req_guid: str | None) -> PendingSend:
        return PendingSend(await self._async.send(events, req_guid=req_guid))

    def send_wait(self, events: Iterable[Event], *, req_guid: str | None = None) -> Ack:
        return self.send(events, req_guid=req_guid).result()

    def flush(self, timeout: float | None = None) -> None:
        self._loop.run(self._async.flush(timeout))

    def close(self, timeout: float | None = None) -> None:
        if self._loop.thread.is_alive():
            try:
                self._loop.run(self._async.close(timeout))
            finally:
                self._loop.stop()
