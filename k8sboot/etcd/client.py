"""A small client for etcd's v3 JSON gateway (etcd 3.4 and 3.5), over HTTPS with a client cert.

    client = EtcdClient(["https://10.0.0.11:2379", ...], local_tls(state.pki_dir))
    client.members(); client.statuses(); client.snapshot(Path("x.db"))

The gateway takes POSTed JSON and answers JSON in the protobuf field names
(``dbSize``, ``peerURLs``, ``remaining_bytes``); 64-bit integers come back as
strings and bytes as base64. Only the standard library: no etcdctl, no gRPC.

Which endpoint answers: :meth:`EtcdClient.status` asks one, ``statuses`` all of
them at once, everything else the first one that answers. A read goes on to the
next endpoint on any failure but a definite refusal (member not found, bad
argument); a change (member add/remove) goes on only when the request never
reached the endpoint, so a change that timed out is never sent twice. When no
endpoint answers, :class:`EtcdUnavailable` says why for each.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from k8sboot.connection.reach import DIRECT, Reach
from k8sboot.errors import InputError, K8sbootError
from k8sboot.pki.layout import ETCD_CA, ETCD_HEALTHCHECK_CLIENT, PkiLayout

# gRPC status codes that mean "this member cannot serve now; another may"
_GRPC_UNKNOWN, _GRPC_DEADLINE_EXCEEDED, _GRPC_UNAVAILABLE = 2, 4, 14
_TRANSIENT_GRPC = {_GRPC_UNKNOWN, _GRPC_DEADLINE_EXCEEDED, _GRPC_UNAVAILABLE}
_READ_SIZE = 64 * 1024
_SHA256_LEN = 32  # etcd appends the sha256 of the database to the snapshot stream


def quorum(n: int) -> int:
    """Members that must be healthy for a cluster of n members to work: a strict majority."""
    return n // 2 + 1


@dataclass(frozen=True)
class EtcdTLS:
    ca: Path
    cert: Path
    key: Path


def local_tls(pki_dir: Path) -> EtcdTLS:
    """The local PKI's etcd CA and the etcd health-check client cert (what etcdctl would use)."""
    pki = PkiLayout(pki_dir)
    return EtcdTLS(
        ca=pki.crt(ETCD_CA),
        cert=pki.crt(ETCD_HEALTHCHECK_CLIENT),
        key=pki.key(ETCD_HEALTHCHECK_CLIENT),
    )


@dataclass(frozen=True)
class Member:
    id: int
    name: str  # "" for a member added but not started yet
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]  # () for a member added but not started yet

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Member:
        return cls(
            id=int(raw.get("ID") or 0),
            name=str(raw.get("name") or ""),
            peer_urls=tuple(str(u) for u in raw.get("peerURLs") or ()),
            client_urls=tuple(str(u) for u in raw.get("clientURLs") or ()),
        )


@dataclass(frozen=True)
class MemberStatus:
    """One endpoint's answer to a status request, or why it gave none (``error``).

    A member that answers is healthy even when it knows no leader (``leader_id`` None:
    it cannot reach a quorum, or an election is under way); one that reports alarms
    (NOSPACE, CORRUPT) has its other fields filled in and ``error`` set too.
    """

    endpoint: str
    member_id: int | None
    leader_id: int | None
    db_size: int | None
    raft_index: int | None
    version: str | None
    error: str | None

    @property
    def healthy(self) -> bool:
        return self.error is None

    @property
    def is_leader(self) -> bool:
        return self.member_id is not None and self.member_id == self.leader_id


class EtcdUnavailable(K8sbootError):
    """No endpoint answered; the message lists each endpoint and why it failed."""

    def __init__(self, what: str, failures: Sequence[tuple[str, str]]):
        self.failures = list(failures)
        lines = "".join(f"\n  {endpoint}: {reason}" for endpoint, reason in failures)
        super().__init__(f"etcd: no endpoint answered {what}:{lines or ' (no endpoints given)'}")


class EtcdError(K8sbootError):
    """An endpoint answered, and refused (member not found, bad peer URL, ...)."""


class _Failed(Exception):
    """One endpoint failed. `delivered`: the request may have reached it; `final`: a definite
    answer that another endpoint would repeat."""

    def __init__(self, reason: str, *, delivered: bool, final: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.delivered = delivered
        self.final = final


def _int(value: Any) -> int | None:
    """A gateway int64 (a JSON string, or absent when zero)."""
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed the connection without an answer"
    return str(exc) or type(exc).__name__


def _http_failure(exc: urllib.error.HTTPError) -> _Failed:
    """The gateway's error body is {"error": ..., "code": <gRPC code>, "message": ...}."""
    try:
        body = json.loads(exc.read(64 * 1024) or b"{}")
    except (ValueError, OSError):
        body = {}
    code = body.get("code") if isinstance(body, dict) else None
    message = (body.get("message") or body.get("error")) if isinstance(body, dict) else None
    reason = f"HTTP {exc.code}: {message}" if message else f"HTTP {exc.code} {exc.reason}"
    final = not (exc.code >= 500 and (code is None or code in _TRANSIENT_GRPC))
    return _Failed(reason, delivered=True, final=final)


class EtcdClient:
    def __init__(self, endpoints: Sequence[str], tls: EtcdTLS, timeout: float = 5.0,
                 reach: Reach = DIRECT) -> None:
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.reach = reach  # endpoints keep their names; a bastion's forward is used to connect
        self.tls = tls
        self.timeout = timeout
        for path in (tls.ca, tls.cert, tls.key):
            if not path.is_file():
                raise InputError(f"no etcd client credentials: {path} is missing "
                                 f"(`k8sboot up` writes it)")
        try:
            self._ssl = ssl.create_default_context(cafile=str(tls.ca))
            self._ssl.load_cert_chain(str(tls.cert), str(tls.key))
        except (ssl.SSLError, OSError) as exc:
            raise InputError(f"etcd client credentials {tls.cert}, {tls.key} (CA {tls.ca}): "
                             f"{_os_reason(exc)}") from None

    # -- one request ------------------------------------------------------------
    def _open(self, endpoint: str, path: str, body: dict[str, Any]) -> Any:
        try:
            request = urllib.request.Request(
                self.reach.url(endpoint) + path, data=json.dumps(body).encode(), method="POST",
                headers={"Content-Type": "application/json"})
        except ValueError as exc:  # not a URL
            raise _Failed(f"bad endpoint: {exc}", delivered=False) from None
        try:
            return urllib.request.urlopen(request, timeout=self.timeout, context=self._ssl)
        except urllib.error.HTTPError as exc:
            raise _http_failure(exc) from None
        except urllib.error.URLError as exc:  # raised before the request was sent
            reason = exc.reason if isinstance(exc.reason, BaseException) else exc
            raise _Failed(_os_reason(reason) if isinstance(reason, BaseException) else str(reason),
                          delivered=False) from None
        except (OSError, ValueError, http.client.HTTPException) as exc:  # waiting, e.g. timed out
            raise _Failed(_os_reason(exc), delivered=True) from None

    def _post(self, endpoint: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._open(endpoint, path, body) as response:
            try:
                data = json.loads(response.read())
            except (OSError, ValueError, http.client.HTTPException) as exc:
                raise _Failed(f"bad answer: {_os_reason(exc)}", delivered=True) from None
        if not isinstance(data, dict):
            raise _Failed("bad answer: not a JSON object", delivered=True)
        return data

    def _first(self, what: str, path: str, body: dict[str, Any], *, change: bool = False
               ) -> dict[str, Any]:
        """The answer of the first endpoint that gives one (see the module docstring)."""
        failures: list[tuple[str, str]] = []
        for endpoint in self.endpoints:
            try:
                return self._post(endpoint, path, body)
            except _Failed as failed:
                if failed.final or (change and failed.delivered):
                    raise EtcdError(f"etcd at {endpoint}: {what}: {failed.reason}") from None
                failures.append((endpoint, failed.reason))
        raise EtcdUnavailable(what, failures)

    # -- the API ----------------------------------------------------------------
    def members(self) -> list[Member]:
        data = self._first("the member list", "/v3/cluster/member/list", {})
        return [Member.from_json(m) for m in data.get("members") or []]

    def status(self, endpoint: str) -> MemberStatus:
        endpoint = endpoint.rstrip("/")
        try:
            data = self._post(endpoint, "/v3/maintenance/status", {})
        except _Failed as failed:
            return MemberStatus(endpoint, None, None, None, None, None, failed.reason)
        header = data.get("header") or {}
        leader = _int(data.get("leader")) or None  # "0" or absent: no leader
        # alarms (NOSPACE, CORRUPT) are errors; "no leader" is what leader_id None says
        problems = [str(e) for e in data.get("errors") or [] if "no leader" not in str(e)]
        return MemberStatus(
            endpoint=endpoint,
            member_id=_int(header.get("member_id")),
            leader_id=leader,
            db_size=_int(data.get("dbSize")) or 0,
            raft_index=_int(data.get("raftIndex")) or 0,
            version=str(data["version"]) if data.get("version") else None,
            error="; ".join(problems) or None,
        )

    def statuses(self) -> list[MemberStatus]:
        """Every endpoint's status, asked at the same time; in the order of the endpoints."""
        if not self.endpoints:
            return []
        with ThreadPoolExecutor(max_workers=min(len(self.endpoints), 16)) as pool:
            return list(pool.map(self.status, self.endpoints))

    def add_member(self, peer_urls: Sequence[str]) -> list[Member]:
        """Add a member (not started yet) with these peer URLs; the member list afterwards."""
        try:
            data = self._first(f"member add {', '.join(peer_urls)}", "/v3/cluster/member/add",
                               {"peerURLs": list(peer_urls)}, change=True)
        except EtcdError as exc:
            if "unhealthy cluster" not in str(exc):
                raise
            raise EtcdError(f"{exc} (etcd adds a member only when every member has been "
                            f"connected for 5 s and the cluster keeps a quorum with the new "
                            f"one down: try again shortly, or bring the down members "
                            f"back first)") from None
        return [Member.from_json(m) for m in data.get("members") or []]

    def remove_member(self, member_id: int) -> None:
        self._first(f"member remove {member_id:x}", "/v3/cluster/member/remove",
                    {"ID": str(member_id)}, change=True)

    def snapshot(self, dest: Path) -> int:
        """Stream a snapshot into dest (0600, written whole or not at all); its size in bytes.

        The file is what `etcdctl snapshot save` writes: the database followed by its
        sha256, which is checked here (and by `etcdctl snapshot restore`).
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        failures: list[tuple[str, str]] = []
        for endpoint in self.endpoints:
            fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as out:
                    size = self._stream_snapshot(endpoint, out)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, 0o600)
                os.replace(tmp, dest)
            except _Failed as failed:
                tmp.unlink(missing_ok=True)
                if failed.final:
                    raise EtcdError(f"etcd at {endpoint}: snapshot: {failed.reason}") from None
                failures.append((endpoint, failed.reason))
                continue
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            _fsync_dir(dest.parent)
            return size
        raise EtcdUnavailable("the snapshot request", failures)

    def _stream_snapshot(self, endpoint: str, out: BinaryIO) -> int:
        with self._open(endpoint, "/v3/maintenance/snapshot", {}) as response:
            return _copy_snapshot(_json_stream(response), out)


def _copy_snapshot(messages: Iterable[dict[str, Any]], out: BinaryIO) -> int:
    """Write the blobs of the snapshot messages to out; the bytes written. The stream is
    ``{"result": {"remaining_bytes": "<after this blob>", "blob": "<base64>"}}`` per 32 KiB
    (remaining_bytes left out when 0), then one more message with the sha256 of all before."""
    digest = hashlib.sha256()
    tail = b""  # the last 32 bytes seen: the sha256 trailer once the stream ends
    size = 0
    remaining: int | None = None
    for message in messages:
        if "error" in message:
            err = message["error"]
            text = err.get("message") if isinstance(err, dict) else err
            raise _Failed(f"snapshot stream broke off: {text}", delivered=True)
        result = message.get("result")
        if not isinstance(result, dict):
            raise _Failed(f"bad snapshot message: {str(message)[:100]}", delivered=True)
        try:
            blob = base64.b64decode(result.get("blob") or "", validate=True)
        except ValueError:
            raise _Failed("bad snapshot message: blob is not base64", delivered=True) from None
        remaining = _int(result.get("remaining_bytes", result.get("remainingBytes"))) or 0
        out.write(blob)
        size += len(blob)
        joined = tail + blob
        digest.update(joined[:-_SHA256_LEN])
        tail = joined[-_SHA256_LEN:]
    if size <= _SHA256_LEN:
        raise _Failed(f"empty snapshot ({size} bytes)", delivered=True)
    if remaining:
        raise _Failed(f"snapshot stream ended early, {remaining} bytes short", delivered=True)
    if digest.digest() != tail:
        raise _Failed("snapshot is damaged: its sha256 does not match the data", delivered=True)
    return size


def _json_stream(response: BinaryIO) -> Iterator[dict[str, Any]]:
    """The JSON objects of a streamed answer, newline-separated or simply concatenated."""
    decoder = json.JSONDecoder()
    buffer = ""
    pending = b""  # bytes of a UTF-8 character split across reads
    eof = False
    while True:
        buffer = buffer.lstrip()
        if buffer:
            try:
                obj, end = decoder.raw_decode(buffer)
            except ValueError:
                if eof:
                    raise _Failed(f"bad snapshot stream: {buffer[:100]!r}", delivered=True) \
                        from None
            else:
                if not isinstance(obj, dict):
                    raise _Failed(f"bad snapshot message: {str(obj)[:100]}", delivered=True)
                yield obj
                buffer = buffer[end:]
                continue
        elif eof:
            return
        try:
            chunk = response.read(_READ_SIZE)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise _Failed(f"snapshot stream broke off: {_os_reason(exc)}", delivered=True) \
                from None
        if not chunk:
            eof = True
            if pending:
                raise _Failed("bad snapshot stream: ends inside a character", delivered=True)
            continue
        data = pending + chunk
        try:
            text = data.decode("utf-8")
            pending = b""
        except UnicodeDecodeError as exc:
            if exc.start < len(data) - 3:
                raise _Failed("bad snapshot stream: not UTF-8", delivered=True) from None
            text, pending = data[: exc.start].decode("utf-8"), data[exc.start:]
        buffer += text


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
