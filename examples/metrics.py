"""Prometheus counters of everything a sora2pro client does, from its events.

sora2pro depends on neither Prometheus nor OpenTelemetry: ``Client(on_event=...)``
hands each typed event to a plain function, and this one turns them into counters
(``pip install 'sora2pro[examples]'`` brings ``prometheus_client``). The function is
called in the asyncio task that caused the event, so a tracing hook in its place can
attach events to the caller's span (with OpenTelemetry:
``trace.get_current_span().add_event(type(event).__name__)``).

Run a few videos against the built-in emulator, with no key, and print the counters
(``--port 9100`` also serves them to a scraper while it runs)::

    python examples/metrics.py --offline "a happy dog" "a cat surfing"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import prometheus_client as prom

import sora2pro


class Metrics:
    """Counters of a client's creates, state changes, retries, 429 pauses and callbacks."""

    def __init__(self, registry: prom.CollectorRegistry | None = None) -> None:
        self.registry = registry or prom.CollectorRegistry()
        self.created = prom.Counter(
            "sora2pro_tasks_created", "Tasks created.", registry=self.registry
        )
        self.states = prom.Counter(
            "sora2pro_state_changes",
            "State changes waits saw, by new state.",
            ["state"],
            registry=self.registry,
        )
        self.retries = prom.Counter(
            "sora2pro_retries",
            "Requests tried again, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.paused = prom.Counter(
            "sora2pro_rate_limit_pause_seconds",
            "Seconds paused after a 429, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.callbacks = prom.Counter(
            "sora2pro_callbacks",
            "Callbacks taken, by whether they held up.",
            ["confirmed"],
            registry=self.registry,
        )

    def on_event(self, event: sora2pro.Event) -> None:
        """Count one event: give this method to ``Client(on_event=...)``."""
        match event:
            case sora2pro.Submitted():
                self.created.inc()
            case sora2pro.StateChanged(task=task):
                self.states.labels(task.state.value).inc()
            case sora2pro.Retried(operation=operation):
                self.retries.labels(operation).inc()
            case sora2pro.RateLimited(operation=operation, pause=pause):
                self.paused.labels(operation).inc(pause)
            case sora2pro.CallbackReceived(confirmed=confirmed):
                self.callbacks.labels(str(confirmed).lower()).inc()

    def text(self) -> str:
        """The counters in Prometheus's text format, as a scraper reads them."""
        return prom.generate_latest(self.registry).decode()


async def main() -> None:
    """Generate the prompts given (with --offline, on the emulator), then print the counters."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompts", nargs="+")
    parser.add_argument("--offline", action="store_true", help="use the built-in emulator")
    parser.add_argument("--port", type=int, help="serve the counters on this port too")
    args = parser.parse_args()
    metrics = Metrics()
    if args.port is not None:
        prom.start_http_server(args.port, registry=metrics.registry)
    async with contextlib.AsyncExitStack() as stack:
        if args.offline:
            from sora2pro.testing import Emulator  # noqa: PLC0415  # only offline

            emulator = await stack.enter_async_context(Emulator(duration=2.0))
            client = sora2pro.Client(
                emulator.api_key,
                base_url=emulator.url,
                poll=emulator.poll,
                on_event=metrics.on_event,
            )
        else:
            client = sora2pro.Client(on_event=metrics.on_event)  # key from APIKLEY_API_KEY
        await stack.enter_async_context(client)
        for result in await client.gather(args.prompts):
            print(result.index, result.task_id, "ok" if result.ok else result.error)
    print(metrics.text())


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
