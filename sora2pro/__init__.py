"""sora2pro: an asyncio client for the Apikley Sora 2 Pro text-to-video API.

::

    async with sora2pro.Client() as client:  # key from APIKLEY_API_KEY
        task = await client.generate("a happy dog running in the garden", n_frames=15)
        await client.download(task, "dog.mp4")

``sora2pro.testing`` holds an emulator of the API for offline runs and tests.
"""

import typing as _typing

from sora2pro._callbacks._checks import parse_callback, verify_callback
from sora2pro._callbacks._receiver import CallbackReceiver
from sora2pro._client import DEFAULT_BASE_URL, Client
from sora2pro._client_batch import DEFAULT_CONCURRENCY
from sora2pro._client_files import DEFAULT_DOWNLOAD_TIMEOUT
from sora2pro._config import (
    DEFAULT_IDEMPOTENCY_TTL,
    DEFAULT_POLL,
    DEFAULT_RATE_LIMITS,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    DEFAULT_WAIT_TIMEOUT,
    PollPolicy,
    RateLimits,
    RetryPolicy,
    Timeouts,
)
from sora2pro._coordination._local import LocalCoordination
from sora2pro._coordination._protocols import Coordination, Idempotency, KeyEntry
from sora2pro._errors import (
    APIError,
    AuthenticationError,
    CallbackError,
    CallbackSignatureError,
    CallbackTooLargeError,
    CoordinationError,
    CreditFloorError,
    DownloadError,
    FeatureDisabledError,
    GenerationFailedError,
    IdempotencyConflictError,
    InsufficientCreditsError,
    InvalidInputError,
    MaintenanceError,
    MalformedCallbackError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ResponseError,
    ServerError,
    Sora2ProError,
    TaskNotVisibleError,
    TransportError,
    UnconfirmedCallbackError,
    UnprocessableError,
)
from sora2pro._flows._download import DEFAULT_MAX_DOWNLOAD_BYTES
from sora2pro._flows._events import (
    BatchEvent,
    CallbackReceived,
    Event,
    Finished,
    OnClientEvent,
    OnEvent,
    RateLimited,
    Retried,
    StateChanged,
    Submitted,
)
from sora2pro._flows._items import BatchItem, BatchResult, to_request
from sora2pro._flows._polling import OnSubmitted, OnUpdate
from sora2pro._flows._upload import DEFAULT_UPLOAD_PATH
from sora2pro._model._failures import SubmitUncertainError, TaskFailedError, WaitTimeoutError
from sora2pro._model._requests import (
    AspectRatio,
    CharacterRequest,
    Frames,
    ImageToVideo,
    Job,
    Request,
    Size,
    TextToVideo,
    TextToVideoOptions,
)
from sora2pro._model._task import Callback, Character, Task, TaskState, UploadedFile
from sora2pro._version import VERSION as _VERSION

if _typing.TYPE_CHECKING:
    from sora2pro._coordination._redis import RedisCoordination

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_DOWNLOAD_TIMEOUT",
    "DEFAULT_IDEMPOTENCY_TTL",
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DEFAULT_POLL",
    "DEFAULT_RATE_LIMITS",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUTS",
    "DEFAULT_UPLOAD_PATH",
    "DEFAULT_WAIT_TIMEOUT",
    "APIError",
    "AspectRatio",
    "AuthenticationError",
    "BatchEvent",
    "BatchItem",
    "BatchResult",
    "Callback",
    "CallbackError",
    "CallbackReceived",
    "CallbackReceiver",
    "CallbackSignatureError",
    "CallbackTooLargeError",
    "Character",
    "CharacterRequest",
    "Client",
    "Coordination",
    "CoordinationError",
    "CreditFloorError",
    "DownloadError",
    "Event",
    "FeatureDisabledError",
    "Finished",
    "Frames",
    "GenerationFailedError",
    "Idempotency",
    "IdempotencyConflictError",
    "ImageToVideo",
    "InsufficientCreditsError",
    "InvalidInputError",
    "Job",
    "KeyEntry",
    "LocalCoordination",
    "MaintenanceError",
    "MalformedCallbackError",
    "NotFoundError",
    "OnClientEvent",
    "OnEvent",
    "OnSubmitted",
    "OnUpdate",
    "PollPolicy",
    "QuotaExceededError",
    "RateLimitError",
    "RateLimited",
    "RateLimits",
    "RedisCoordination",
    "Request",
    "ResponseError",
    "Retried",
    "RetryPolicy",
    "ServerError",
    "Size",
    "Sora2ProError",
    "StateChanged",
    "SubmitUncertainError",
    "Submitted",
    "Task",
    "TaskFailedError",
    "TaskNotVisibleError",
    "TaskState",
    "TextToVideo",
    "TextToVideoOptions",
    "Timeouts",
    "TransportError",
    "UnconfirmedCallbackError",
    "UnprocessableError",
    "UploadedFile",
    "WaitTimeoutError",
    "__version__",
    "parse_callback",
    "to_request",
    "verify_callback",
]

__version__ = _VERSION


def __getattr__(name: str) -> object:
    # RedisCoordination needs the `redis` extra: imported on first use, so that the
    # library runs without it.
    if name == "RedisCoordination":
        try:
            from sora2pro._coordination._redis import RedisCoordination  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError(
                "sora2pro.RedisCoordination needs the redis extra: pip install 'sora2pro[redis]'"
            ) from exc

        globals()[name] = RedisCoordination
        return RedisCoordination
    raise AttributeError(f"module 'sora2pro' has no attribute {name!r}")
