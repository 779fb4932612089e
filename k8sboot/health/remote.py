"""HTTP(S) requests made *on* a host (etcd and kubelet answer on 127.0.0.1 only).

curl when the host has it, else python3: minimal images often lack one of them.
The answer is the body and the HTTP status, so a check can say what went wrong.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from testinfra.host import Host as InfraHost

# prints the body, a newline and the status; exits 7 when it cannot connect at all
_PY_CLIENT = r"""
import json, ssl, sys, urllib.error, urllib.request
a = json.loads(sys.argv[1])
ctx = None
if a["url"].startswith("https"):
    ctx = ssl.create_default_context(cafile=a["cacert"] or None)
    if a["cert"]:
        ctx.load_cert_chain(a["cert"], a["key"])
data = a["body"].encode() if a["body"] is not None else None
req = urllib.request.Request(a["url"], data=data, method=a["method"])
try:
    with urllib.request.urlopen(req, timeout=a["timeout"], context=ctx) as r:
        body, status = r.read(), r.status
except urllib.error.HTTPError as e:
    body, status = e.read(), e.code
except Exception as e:
    sys.stderr.write(str(getattr(e, "reason", e)) + "\n")
    sys.exit(7)
sys.stdout.write(body.decode(errors="replace") + "\n" + str(status))
"""


@dataclass(frozen=True)
class HttpAnswer:
    status: int | None  # None: no answer at all (see error)
    body: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.status is None:
            return f"no answer: {self.error or 'unknown error'}"
        return f"HTTP {self.status}: {self.body.strip()[:200]}"


def _curl(
    url: str,
    cacert: str | None,
    cert: str | None,
    key: str | None,
    method: str,
    body: str | None,
    timeout: float,
) -> str:
    parts = ["curl", "-sS", "--max-time", f"{timeout:g}", "-X", method, "-w", r"'\n%{http_code}'"]
    for flag, value in (("--cacert", cacert), ("--cert", cert), ("--key", key)):
        if value:
            parts += [flag, shlex.quote(value)]
    if body is not None:
        parts += ["-H", "'Content-Type: application/json'", "--data-binary", shlex.quote(body)]
    return " ".join(parts + [shlex.quote(url)])


def http_request(
    host: InfraHost,
    url: str,
    *,
    cacert: str | None = None,
    cert: str | None = None,
    key: str | None = None,
    method: str = "GET",
    body: str | None = None,
    timeout: float = 5.0,
) -> HttpAnswer:
    """Request url from the host itself (as root when the host uses sudo)."""
    if host.exists("curl"):
        cmd = _curl(url, cacert, cert, key, method, body, timeout)
    elif host.exists("python3"):
        args = {
            "url": url,
            "cacert": cacert,
            "cert": cert,
            "key": key,
            "method": method,
            "body": body,
            "timeout": timeout,
        }
        cmd = f"python3 -c {shlex.quote(_PY_CLIENT)} {shlex.quote(json.dumps(args))}"
    else:
        return HttpAnswer(None, "", "the host has neither curl nor python3")
    r = host.run(cmd)
    out, _, status = r.stdout.rpartition("\n")
    status = status.strip()
    if r.rc != 0 or not status.isdigit() or status == "000":
        text = (r.stderr or r.stdout).strip()
        return HttpAnswer(None, "", text.splitlines()[-1] if text else f"exit code {r.rc}")
    return HttpAnswer(int(status), out)
