"""Which of several servers answers: a TCP connect to each, all at once, the first in order wins."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit


def tcp_answers(url: str, timeout: float = 1.5) -> bool:
    try:
        parsed = urlsplit(url)
        with socket.create_connection((parsed.hostname or "", parsed.port or 443), timeout=timeout):
            return True
    except (OSError, ValueError):  # ValueError: a port out of range in a hand-edited URL
        return False


def first_answering(urls: Sequence[str], timeout: float = 1.5,
                    answers: Callable[[str, float], bool] = tcp_answers) -> str | None:
    """The first URL (in the given order) whose host:port accepts a TCP connection; all tried at once.

    `answers` says how one is tried (a direct connect, or through a bastion: connection.reach).
    """
    urls = list(dict.fromkeys(urls))
    with ThreadPoolExecutor(max_workers=max(1, len(urls))) as ex:
        results = list(ex.map(lambda u: answers(u, timeout), urls))
    return next((u for u, ok in zip(urls, results) if ok), None)
