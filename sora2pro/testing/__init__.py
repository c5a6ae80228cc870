"""An emulator of the Apikley Sora 2 Pro API, to run and test offline.

::

    from sora2pro.testing import Emulator, Fault

    async with Emulator(duration=2.0) as emu:
        emu.inject(Fault.rate_limited(retry_after=1))  # the next create answers 429
        async with sora2pro.Client(emu.api_key, base_url=emu.url) as client:
            task = await client.generate("a happy dog running in the garden")

Needs the ``testing`` extra (``pip install 'sora2pro[testing]'``). For pytest, add
``pytest_plugins = ["sora2pro.testing.pytest_plugin"]`` to get the
``sora2pro_emulator`` fixture, and mark the tests that use it with
``@pytest.mark.asyncio`` (unless ``asyncio_mode = "auto"``).
"""

from sora2pro.testing._emulator import Emulator
from sora2pro.testing._faults import Endpoint, Fault, FaultKind
from sora2pro.testing._schema import create_errors, create_schemas, openapi_document
from sora2pro.testing._state import DEFAULT_API_KEY, RecordedRequest, Upload
from sora2pro.testing._tasks import EmulatedTask

__all__ = [
    "DEFAULT_API_KEY",
    "EmulatedTask",
    "Emulator",
    "Endpoint",
    "Fault",
    "FaultKind",
    "RecordedRequest",
    "Upload",
    "create_errors",
    "create_schemas",
    "openapi_document",
]
