"""Which of several servers answers: a TCP connect to each, all at once, the first in order wins."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit


def first_answering(urls: Sequence[str], timeout: float = 1.5) -> str | None:
    """The first URL (in the given order) whose host:port accepts a TCP connection; all tried at once."""
    urls = list(dict.fromkeys(urls))

    def answers(url: str) -> bool:
        try:
            parsed = urlsplit(url)
            with socket.create_connection((parsed.hostname or "", parsed.port or 443), timeout=timeout):
                return True
        except (OSError, ValueError):  # ValueError: a port out of range in a hand-edited URL
            return False

    with ThreadPoolExecutor(max_workers=max(1, len(urls))) as ex:
        results = list(ex.map(answers, urls))
    return next((u for u, ok in zip(urls, results) if ok), None)
