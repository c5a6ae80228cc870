"""An aiogram 3 Telegram bot: ``/video <prompt>`` answers with the video when it is ready.

The bot replies at once with the task id, then sends the video when the provider's
callback arrives at the receiver (polling takes over if it never does). The
receiver must be reachable by the provider: run it behind a proxy or a tunnel and
give that address as ``PUBLIC_URL``; set ``APIKLEY_WEBHOOK_KEY`` if the account
signs its callbacks. ``--offline`` uses the built-in emulator instead of the API
(Telegram itself still needs the network)::

    pip install 'sora2pro[examples]'
    export TELEGRAM_BOT_TOKEN=... APIKLEY_API_KEY=... PUBLIC_URL=https://bot.example.com
    python examples/telegram_bot.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import Message  # noqa: TC002  # aiogram reads handler signatures

import sora2pro


def make_router(client: sora2pro.Client) -> Router:
    """The bot's one command, submitting through ``client``."""
    router = Router()
    deliveries: set[asyncio.Task[None]] = set()

    @router.message(Command("video"))
    async def video(message: Message, command: CommandObject) -> None:
        if not command.args:
            await message.answer("Usage: /video <what the video shows>")
            return
        try:
            task_id = await client.submit(command.args)
        except sora2pro.Sora2ProError as error:
            await message.answer(f"Could not start it: {error}")
            return
        await message.answer(f"On it (task {task_id}); the video follows when it is ready.")
        delivery = asyncio.create_task(deliver(message, client, task_id))
        deliveries.add(delivery)
        delivery.add_done_callback(deliveries.discard)

    return router


async def deliver(message: Message, client: sora2pro.Client, task_id: str) -> None:
    """Send the video once the task ends, or say why it did not."""
    try:
        task = await client.wait(task_id)
        await message.answer_video(task.result_urls[0])
    except sora2pro.Sora2ProError as error:
        await message.answer(f"Task {task_id} did not make it: {error}")
    except TelegramAPIError as error:
        await message.answer(f"The video is ready but could not be sent ({error}): "
                             f"{task.result_urls[0]}")  # fmt: skip


async def main() -> None:
    """Run the bot with a callback receiver on port 8080."""
    offline = "--offline" in sys.argv
    bot = Bot(os.environ["TELEGRAM_BOT_TOKEN"])
    receiver = sora2pro.CallbackReceiver(
        public_url=None if offline else os.environ["PUBLIC_URL"],
        hmac_key=os.environ.get("APIKLEY_WEBHOOK_KEY"),
    )
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(bot.session.close)
        options: dict[str, str] = {}
        if offline:
            from sora2pro.testing import Emulator  # noqa: PLC0415  # only offline

            emulator = await stack.enter_async_context(Emulator(duration=10.0))
            options = {"api_key": emulator.api_key, "base_url": emulator.url}
            await receiver.start()  # the emulator calls it on loopback
        else:
            await receiver.start("0.0.0.0", 8080)  # noqa: S104  # the provider must reach it
        stack.push_async_callback(receiver.close)
        client = await stack.enter_async_context(sora2pro.Client(callbacks=receiver, **options))
        dispatcher = Dispatcher()
        dispatcher.include_router(make_router(client))
        await dispatcher.start_polling(bot)


if __name__ == "__main__":
    asyncio.run(main())
