"""Fetch a binary named by URL (http, https or file) into the download cache.

The cache is content-addressed: ``<cache>/downloads/<sha256>``. The checksum the
user wrote is the key, so a second run finds the file and downloads nothing, and
a file is only ever renamed into place once its content matched that checksum.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

DOWNLOAD_TIMEOUT = 60.0  # seconds without progress before giving up
_CHUNK = 1 << 20


class DownloadError(Exception):
    """The URL could not be fetched or its content did not match; the message says which."""


def fetch(url: str, sha256: str, downloads: Path,
          known_sha256: Callable[[Path], str]) -> Path:
    """Return the cached file for (url, sha256), downloading it if needed.

    known_sha256 hashes a cached file (memoised by the caller), so a reused file
    is checked without reading it again on every run.
    """
    target = downloads / sha256
    if target.is_file() and known_sha256(target) == sha256:
        return target
    downloads.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{sha256[:12]}.", dir=downloads)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, _open(url) as resp:
            try:
                while chunk := resp.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            except (OSError, http.client.HTTPException) as e:
                # a reset or a stall half way, or a body cut short (IncompleteRead)
                raise DownloadError(f"download failed part way: {_reason(e)}") from None
        actual = h.hexdigest()
        if actual != sha256:
            raise DownloadError(f"sha256 mismatch: expected {sha256}, got {actual}")
        tmp.chmod(0o755)
        os.replace(tmp, target)
        return target
    finally:
        tmp.unlink(missing_ok=True)


def _open(url: str):  # -> an http.client.HTTPResponse or a file-like urllib response
    try:
        return urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT)  # schemes checked by the caller
    except urllib.error.HTTPError as e:
        raise DownloadError(f"download failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        reason = e.reason.strerror if isinstance(e.reason, OSError) and e.reason.strerror else e.reason
        raise DownloadError(f"download failed: {reason}") from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        # HTTPException: the server answered something that is not HTTP (BadStatusLine)
        raise DownloadError(f"download failed: {_reason(e)}") from None


def _reason(e: BaseException) -> str:
    """One line, whatever the exception: BadStatusLine's text is the server's raw bytes."""
    text = " ".join(str(e).split())[:120] or type(e).__name__
    if isinstance(e, http.client.IncompleteRead):
        return f"the server closed the connection after {len(e.partial)} bytes of the body"
    if isinstance(e, http.client.HTTPException):
        return f"not an HTTP answer ({type(e).__name__}: {text!r})"
    return text
