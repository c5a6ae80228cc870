"""Callbacks: POST a task's result to its ``callBackUrl`` when it ends.

No retry policy is documented and duplicates happen (API.md section 4), so some
callbacks are lost, some sent twice, and each may come late, as the settings say.
"""

from __future__ import annotations

import asyncio
import logging
import time
import typing

import aiohttp

from sora2pro._callbacks._signing import sign
from sora2pro.testing._state import FILES, EmulatorState

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sora2pro.testing._tasks import EmulatedTask

__all__ = ["CallbackSender"]

logger = logging.getLogger("sora2pro.testing")


class CallbackSender(EmulatorState):
    """The part of the emulator that sends callbacks."""

    def _schedule_callback(self, task: EmulatedTask, delay: float) -> None:
        url = task.body.get("callBackUrl")
        if not self.callbacks or not isinstance(url, str):
            return
        timer = self._timers.pop(task.id, None)
        if timer is not None:
            timer.cancel()
        if self.rng.random() < self.callback_loss:
            self.callbacks_lost += 1
            return
        loop = asyncio.get_running_loop()
        delay += self.rng.uniform(0.0, self.callback_delay)
        self._timers[task.id] = loop.call_later(
            delay, self._spawn, lambda: self._send_callback(task, url)
        )
        if self.rng.random() < self.callback_duplicates:
            again = delay + self.rng.uniform(0.0, self.callback_delay)
            self._echoes.append(
                loop.call_later(
                    again, self._spawn, lambda: self._send_callback(task, url, echo=True)
                )
            )

    def _spawn(self, make: Callable[[], Awaitable[None]]) -> None:
        job = asyncio.ensure_future(make())
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def _send_callback(self, task: EmulatedTask, url: str, *, echo: bool = False) -> None:
        if not echo:
            self._timers.pop(task.id, None)
        now = asyncio.get_running_loop().time()
        data = task.record(
            now,
            file_url=self.url + FILES,
            rng=self.rng,
            progress=self.progress,
            callback=True,
        )
        success = data["state"] == "success"
        body = {
            "code": 200 if success else 501,
            "msg": "success" if success else task.fail_message,
            "data": data,
        }
        self.callbacks_sent.append((url, body))
        headers = {}
        if self.callback_hmac_key is not None:
            stamp = int(time.time())
            headers["X-Webhook-Timestamp"] = str(stamp)
            headers["X-Webhook-Signature"] = sign(self.callback_hmac_key, task.id, stamp)
        assert self._session is not None  # noqa: S101  # set by start()
        try:
            async with self._session.post(
                url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=15)
            ) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.info("callback to %s failed: %r", url, exc)

    async def _cancel_callbacks(self) -> None:
        """Cancel the callbacks due, and stop those being sent."""
        for timer in [*self._timers.values(), *self._echoes]:
            timer.cancel()
        self._timers.clear()
        self._echoes.clear()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
