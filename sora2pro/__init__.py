"""sora2pro: an asyncio client for the Apikley Sora 2 Pro text-to-video API.

::

    async with sora2pro.Client() as client:  # key from APIKLEY_API_KEY
        task = await client.generate("a happy dog running in the garden", n_frames=15)
        await client.download(task, "dog.mp4")

``sora2pro.testing`` holds an emulator of the API for offline runs and tests.
"""

from sora2pro._client import DEFAULT_BASE_URL, DEFAULT_DOWNLOAD_TIMEOUT, Client
from sora2pro._config import (
    DEFAULT_POLL,
    DEFAULT_RETRY,
    DEFAULT_TIMEOUTS,
    DEFAULT_WAIT_TIMEOUT,
    PollPolicy,
    RetryPolicy,
    Timeouts,
)
from sora2pro._errors import (
    APIError,
    AuthenticationError,
    DownloadError,
    FeatureDisabledError,
    GenerationFailedError,
    InsufficientCreditsError,
    InvalidInputError,
    MaintenanceError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    ResponseError,
    ServerError,
    Sora2ProError,
    SubmitUncertainError,
    TaskFailedError,
    TransportError,
    UnprocessableError,
    WaitTimeoutError,
)
from sora2pro._models import (
    AspectRatio,
    Frames,
    Size,
    Task,
    TaskState,
    TextToVideo,
    TextToVideoOptions,
)
from sora2pro._polling import OnUpdate
from sora2pro._version import VERSION as _VERSION

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DOWNLOAD_TIMEOUT",
    "DEFAULT_POLL",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUTS",
    "DEFAULT_WAIT_TIMEOUT",
    "APIError",
    "AspectRatio",
    "AuthenticationError",
    "Client",
    "DownloadError",
    "FeatureDisabledError",
    "Frames",
    "GenerationFailedError",
    "InsufficientCreditsError",
    "InvalidInputError",
    "MaintenanceError",
    "NotFoundError",
    "OnUpdate",
    "PollPolicy",
    "QuotaExceededError",
    "RateLimitError",
    "ResponseError",
    "RetryPolicy",
    "ServerError",
    "Size",
    "Sora2ProError",
    "SubmitUncertainError",
    "Task",
    "TaskFailedError",
    "TaskState",
    "TextToVideo",
    "TextToVideoOptions",
    "Timeouts",
    "TransportError",
    "UnprocessableError",
    "WaitTimeoutError",
    "__version__",
]

__version__ = _VERSION
