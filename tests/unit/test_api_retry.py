"""Transient apiserver answers are retried, definite ones are not, and the end is one RunError."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError, ReadTimeoutError

from k8sboot.api_retry import call_api, is_api_error, is_transient, reason_of
from k8sboot.errors import RunError


def read_timeout() -> MaxRetryError:
    cause = ReadTimeoutError(None, "/api/v1/nodes", "Read timed out. (read timeout=2.7)")  # type: ignore[arg-type]
    return MaxRetryError(None, "/api/v1/nodes", cause)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def flaky(errors: list[BaseException], result: str = "ok"):  # noqa: ANN201
    calls = []

    def fn() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result
    return fn, calls


def test_classification_of_real_client_errors() -> None:
    assert is_api_error(read_timeout()) and is_transient(read_timeout())
    assert reason_of(read_timeout()) == "ReadTimeoutError"
    assert is_transient(ApiException(status=504, reason="Gateway Timeout"))
    assert is_transient(ApiException(status=429, reason="Too Many Requests"))
    assert not is_transient(ApiException(status=403, reason="Forbidden"))
    assert reason_of(ApiException(status=504, reason="Gateway Timeout")) == "504 Gateway Timeout"
    assert not is_api_error(ValueError("x")) and not is_api_error(OSError("local file"))


def test_the_clients_per_status_subclasses_are_classified_by_their_status() -> None:
    # the client raises ServiceException for 5xx and NotFoundException/ForbiddenException for 4xx
    from kubernetes.client import exceptions

    for name, status, transient in (("ServiceException", 504, True), ("NotFoundException", 404, False),
                                    ("ForbiddenException", 403, False)):
        e = getattr(exceptions, name)(status=status, reason="r")
        assert is_transient(e) is transient, name
        assert reason_of(e) == f"{status} r"


def test_transient_errors_are_retried_until_an_answer() -> None:
    clock = Clock()
    fn, calls = flaky([read_timeout(), ApiException(status=504, reason="Gateway Timeout")])
    assert call_api(fn, "read the nodes", "https://a:6443", sleep=clock.sleep, clock=clock) == "ok"
    assert len(calls) == 3


def test_a_definite_answer_fails_at_once_as_one_clear_error() -> None:
    clock = Clock()
    fn, calls = flaky([ApiException(status=403, reason="Forbidden")])
    with pytest.raises(RunError, match=r"rbac: the apiserver at https://a:6443 did not answer \(403 Forbidden\)"):
        call_api(fn, "rbac", "https://a:6443", sleep=clock.sleep, clock=clock)
    assert len(calls) == 1


def test_transient_errors_end_after_the_deadline() -> None:
    clock = Clock()
    fn, calls = flaky([read_timeout() for _ in range(1000)])
    with pytest.raises(RunError, match="ReadTimeoutError"):
        call_api(fn, "read the nodes", "https://a:6443", for_seconds=30, every=5, sleep=clock.sleep, clock=clock)
    assert 6 <= len(calls) <= 8


def test_other_errors_pass_through_untouched() -> None:
    fn, _ = flaky([KeyError("bug")])
    with pytest.raises(KeyError):
        call_api(fn, "x", "s")
