"""Large files reach hosts by HTTP from the controller, not through the SSH pipe.

paramiko does its per-packet work in Python: on this lab's 2 cores, pushing
kubelet and kube-proxy (~140 MB) to 10 hosts through it took 35 s, where
OpenSSH copied the same bytes in 14 s. So a file that is large and whose
sha256 is known is offered instead: a short-lived HTTP server on the
controller, bound to the address the controller's SSH connection to that host
comes from, serves it with sendfile (no Python per byte), and the host fetches
it with curl. The host checks the sha256 it was told over SSH before the file
replaces anything, so what HTTP carries needs no trust: a wrong byte is a
failed pull, and the caller falls back to the SSH upload. Only files the caller
offers (binaries checked at the start of a run) are served, each under a
random path, and only for the lifetime of the run.
"""

from __future__ import annotations

import http.server
import secrets
import shlex
import socket
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from k8sboot.connection.file_digest import sha256_command

# below this an SSH upload is as quick as a fetch's extra round trip and hashing
MIN_SIZE = 8 * 1024 * 1024
# a host that cannot reach the controller says so at once (refused) or after this
CONNECT_TIMEOUT = 3
# exit code of a pull that did not happen and left the host as it was: upload instead
PULL_UNAVAILABLE = 75
# where a host keeps files fetched ahead of the task that installs them (see stage_binaries), each
# named by its sha256, checked when fetched; removed by `down` with /var/lib/k8sboot. A file is
# taken unchecked only from root's 0700 dir, itself root's 0600 and no link (only root could have
# put it there: after the fetch's check); any other is hashed again when taken
STAGE_DIR = "/var/lib/k8sboot/stage"
STAGE_DIR_MODE = "700"
STAGED_MODE = "600"
# a staged file no run took (its build was replaced before its install ran) is removed after this
STAGE_MAX_AGE_MINUTES = 24 * 60


def staged_path(sha256: str) -> str:
    return f"{STAGE_DIR}/{sha256}"


@dataclass(frozen=True)
class Offered:
    path: Path
    size: int


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _OfferServer
    protocol_version = "HTTP/1.1"
    # a host that stops reading (cut off mid-fetch) frees its thread after this long without progress
    timeout = 30

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        offered = self.server.files.get(self.path)
        if offered is None:
            self.send_error(404)
            return
        try:
            f = offered.path.open("rb")
        except OSError:
            self.send_error(404)
            return
        with f:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(offered.size))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.flush()
            try:
                # the kernel copies file to socket; the GIL is released throughout
                self.connection.sendfile(f, 0, offered.size)
            except OSError:
                pass  # the host went away: its size/sha256 check fails and it falls back
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the hosts' results say what happened


class _OfferServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # closing must not wait for a fetch in progress: a host lost mid-fetch would hold the run's exit
    block_on_close = False

    def __init__(self, address: str) -> None:
        self.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        super().__init__((address, 0), _Handler)
        self.files: dict[str, Offered] = {}


class FileOffer:
    """Serves offered files on each controller address hosts are reached from, until closed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[str, _OfferServer] = {}
        self._urls: dict[tuple[str, str, str], str] = {}  # (address, path, sha256) -> url path
        self.fetched = 0  # files hosts fetched, checked and put in place
        self.uploaded = 0  # files that could have been fetched but went through SSH
        self.fallbacks: dict[str, str] = {}  # host -> why it could not fetch (told once per run)

    def count(self, host: str, fetched: bool, why: str = "") -> None:
        with self._lock:
            if fetched:
                self.fetched += 1
            else:
                self.uploaded += 1
                if why:
                    self.fallbacks.setdefault(host, why)

    def url(self, local_address: str, path: Path, sha256: str) -> str:
        """The URL a host reaching us from `local_address` fetches `path` by (served from now on)."""
        with self._lock:
            server = self._servers.get(local_address)
            if server is None:
                server = _OfferServer(local_address)
                threading.Thread(target=server.serve_forever, name=f"file-offer {local_address}",
                                 daemon=True).start()
                self._servers[local_address] = server
            key = (local_address, str(path), sha256)
            url_path = self._urls.get(key)
            if url_path is None:
                url_path = f"/{secrets.token_urlsafe(18)}"  # never the file's own name: no quoting, nothing to guess
                server.files[url_path] = Offered(path, path.stat().st_size)
                self._urls[key] = url_path
            host = f"[{local_address}]" if ":" in local_address else local_address
            return f"http://{host}:{server.server_address[1]}{url_path}"

    def close(self) -> None:
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
            self._urls.clear()
        for server in servers:
            server.shutdown()
            server.server_close()


def pull_steps(url: str, tmp: str, sha256: str, max_seconds: float, staged: str | None = None) -> list[str]:
    """Shell steps that fetch `url` into `tmp` and check its sha256, for put_script's temporary file
    (which checks the size after them).

    A host without curl, or one that cannot connect to the controller, exits
    PULL_UNAVAILABLE having written nothing; a fetch cut short or a sha256 that
    differs fails (the caller falls back to an SSH upload either way). With
    `staged`, a file fetched there earlier is taken instead of fetching: unchecked
    from a root-only place as stage() leaves it (hashing the apiserver's 110 MB
    again sat before its start), checked like a fetched one from anywhere else
    (a wrong one fails, and the caller uploads).
    """
    q_tmp = shlex.quote(tmp)
    # --noproxy: a host's http_proxy would send the fetch away from the controller it must reach directly
    fetch = (f"curl -fsS --noproxy '*' --connect-timeout {CONNECT_TIMEOUT} --max-time {max(1, int(max_seconds))} "
             f"-o {q_tmp} {shlex.quote(url)}")
    fetch_steps = [
        f"{{ command -v curl >/dev/null 2>&1 || exit {PULL_UNAVAILABLE}; }}",
        # curl 7: could not connect; 28 with nothing written: the connect timed out
        f"{{ {fetch} || {{ rc=$?; if [ $rc = 7 ] || {{ [ $rc = 28 ] && [ ! -s {q_tmp} ]; }}; "
        f"then exit {PULL_UNAVAILABLE}; fi; exit $rc; }}; }}",
    ]
    check = (f"[ \"$({sha256_command(tmp)})\" = {shlex.quote(sha256)} ] || "
             f"{{ echo '(k8sboot) the fetched file has the wrong sha256' >&2; false; }}")
    if staged is None:
        return fetch_steps + [f"{{ {check}; }}"]
    q_staged, q_dir = shlex.quote(staged), shlex.quote(str(PurePosixPath(staged).parent))
    # stat does not follow links: a link in either place is a mismatch
    look = shlex.quote(f"0 {STAGE_DIR_MODE} directory\n0 {STAGED_MODE} regular file")
    take = (f"trusted=; if [ -f {q_staged} ] && [ ! -L {q_staged} ]; then "
            f"[ \"$(stat -c '%u %a %F' -- {q_dir} {q_staged} 2>/dev/null)\" = {look} ] && trusted=1; "
            f"mv -f {q_staged} {q_tmp}; else {' && '.join(fetch_steps)}; fi")
    return [take, f"{{ [ -n \"$trusted\" ] || {check}; }}"]
