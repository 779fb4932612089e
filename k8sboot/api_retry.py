"""Calls to the apiserver that ride out its warm-up: transient answers are retried, then one clear error.

An apiserver that has just said ready may still time out or answer 5xx while it
warms up (a software-emulated VM: "request did not complete within 1m0s", or no
answer inside the client's deadline). Such answers are retried for a while; a
definite answer (404, 403, 409, ...) is not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from k8sboot import ui
from k8sboot.errors import RunError

T = TypeVar("T")

TRANSIENT_FOR = 300.0
RETRY_EVERY = 5.0

# where the kubernetes client's and urllib3's exceptions live (no import: the client loads slowly)
_API_MODULES = ("kubernetes.", "urllib3.")


def is_api_error(e: BaseException) -> bool:
    """An error raised by the kubernetes client or the HTTP layer under it."""
    return type(e).__module__.startswith(_API_MODULES)


def is_transient(e: BaseException) -> bool:
    """A timeout, a lost connection, 429 or a 5xx: the same call may succeed in a moment."""
    status = _status(e)
    if status is not None:
        return status == 429 or status >= 500
    return is_api_error(e)


def _status(e: BaseException) -> int | None:
    """The HTTP status of an API answer (ApiException and its per-status subclasses:
    NotFoundException, ServiceException, ...), None for errors without one."""
    status = getattr(e, "status", None)
    return status if isinstance(status, int) and is_api_error(e) else None


def reason_of(e: BaseException) -> str:
    """The short reason of an API error: '504 Gateway Timeout', 'ReadTimeoutError', ..."""
    status = _status(e)
    if status is not None:
        return f"{status} {getattr(e, 'reason', '') or ''}".strip()
    reason = getattr(e, "reason", None)  # urllib3's MaxRetryError wraps the real cause
    return type(reason).__name__ if isinstance(reason, BaseException) else type(e).__name__


def call_api(fn: Callable[[], T], what: str, server: str, *, for_seconds: float = TRANSIENT_FOR,
             every: float = RETRY_EVERY, sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.monotonic) -> T:
    """fn(), retried on transient API errors for `for_seconds`; then a RunError naming `what` and the server."""
    deadline = clock() + for_seconds
    while True:
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - classified below; anything else is re-raised
            if not is_api_error(e):
                raise
            reason = reason_of(e)
            if not is_transient(e) or clock() > deadline:
                raise RunError(f"{what}: the apiserver at {server} did not answer ({reason}); "
                               "run `k8sboot up` again once it answers") from None
            ui.info(f"  the apiserver is not answering yet ({reason}); retrying")
            sleep(every)
