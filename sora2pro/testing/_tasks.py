"""One emulated task: its life from create to end, and how the API reports it."""

from __future__ import annotations

import json
import random
import typing

import attrs

__all__ = ["CHARACTERS_MODEL", "SORA_MODELS", "EmulatedTask"]

#: The model whose tasks make a character instead of a video.
CHARACTERS_MODEL = "sora-2-characters"
#: The models whose bodies and results follow API.md; any other is a job of its own.
SORA_MODELS = frozenset({"sora-2-pro-text-to-video", "sora-2-pro-image-to-video", CHARACTERS_MODEL})


@attrs.define
class EmulatedTask:
    """A task as the emulator keeps it. Times are ``loop.time()`` values.

    Its state follows the clock: ``waiting`` for the first tenth of ``duration``,
    ``queuing`` for the next, then ``generating`` with rising ``progress``, then
    ``success`` or ``fail``. A ``duration`` of None never ends on its own; the test
    ends it with ``Emulator.finish``. ``result``, when set, is its ``resultJson``
    object on success (a model other than the Sora 2 ones).
    """

    id: str
    body: dict[str, typing.Any]
    created: float
    created_ms: int
    duration: float | None
    fails: bool
    fail_code: str = "500"
    fail_message: str = "Internal Error, Please try again later."
    ended: float | None = None
    forced_state: str | None = None
    forced_progress: int | None = None
    cost: float = 0.0
    result: dict[str, typing.Any] | None = None

    def end_time(self) -> float | None:
        """When the task ends (or ended), if it is timed."""
        if self.ended is not None:
            return self.ended
        return None if self.duration is None else self.created + self.duration

    def state(self, now: float) -> tuple[str, int]:
        """The state and progress (0-100) at ``now``."""
        end = self.end_time()
        if end is not None and now >= end:
            return ("fail", 100) if self.fails else ("success", 100)
        if self.forced_state is not None:
            return self.forced_state, self.forced_progress or 0
        if self.duration is None:
            return "waiting", 0
        share = (now - self.created) / self.duration
        if share < 0.1:
            return "waiting", 0
        if share < 0.2:
            return "queuing", 0
        return "generating", min(99, int(100 * (share - 0.2) / 0.8))

    def _result(self, file_url: str, rng: random.Random) -> dict[str, typing.Any]:
        if self.result is not None:
            return self.result
        model = self.body.get("model")
        if model not in SORA_MODELS:
            return {"resultUrls": [f"{file_url}/{self.id}.mp4"]}
        if model == CHARACTERS_MODEL:
            # API.md section 6: one upstream page names the key character_id_list.
            character = f"char_{self.id[-12:]}"
            if rng.random() < 0.5:
                return {"character_id": character}
            return {"character_id_list": [character]}
        return {
            "resultUrls": [f"{file_url}/{self.id}.mp4"],
            "resultWaterMarkUrls": [f"{file_url}/{self.id}-watermark.mp4"],
        }

    def record(
        self,
        now: float,
        *,
        file_url: str,
        rng: random.Random,
        progress: bool,
        callback: bool = False,
    ) -> dict[str, typing.Any]:
        """The ``data`` object of a recordInfo answer (or of a callback) at ``now``.

        Quirks are drawn from ``rng``: ``input`` JSON-encoded a second time, ``""``
        or null or absent for empty fields, progress present or not.
        """
        state, percent = self.state(now)
        body = dict(self.body)
        if rng.random() < 0.5:
            body["input"] = json.dumps(body.get("input"))
        empty = rng.choice(["", None])
        data: dict[str, typing.Any] = {
            "taskId": self.id,
            "model": body.get("model"),
            "state": state,
            "param": json.dumps(body),
            "resultJson": empty,
            "failCode": empty,
            "failMsg": empty,
            "createTime": self.created_ms,
        }
        ended_ms = self.created_ms + int(1000 * (min(now, self.end_time() or now) - self.created))
        # Live answers (API.md section 8): no updateTime while generating, and in
        # callbacks one equal to createTime. Never a clue to how far a task is.
        if callback:
            data["updateTime"] = self.created_ms
        elif state != "generating":
            data["updateTime"] = ended_ms if state in ("success", "fail") else self.created_ms
        if progress:
            data["progress"] = percent
        if state == "success":
            data["resultJson"] = json.dumps(self._result(file_url, rng))
            data["failCode"] = None if callback else ""
            data["failMsg"] = None if callback else ""
        elif state == "fail":
            data["resultJson"] = None if callback else ""
            data["failCode"] = self.fail_code
            data["failMsg"] = self.fail_message
        if state in ("success", "fail"):
            data["completeTime"] = ended_ms
            # The docs say milliseconds; live answers give seconds.
            data["costTime"] = (ended_ms - self.created_ms) // 1000
            data["creditsConsumed"] = 0 if state == "fail" else self.cost
        elif rng.random() < 0.5:
            del data["resultJson"]
        return data
