"""ansible.builtin.uri: an HTTP(S) request made from the host itself.

As Ansible's own module does, it runs on the host, so a URL like
https://127.0.0.1:6443/readyz means the host's loopback, with the host's
copies of the CA and client certificate. A plain GET (the readiness polls of
the roles) goes through curl where the host has it: starting python3 for every
retry cost seconds of CPU each on a software-emulated VM, taken from the very
apiserver being waited for.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from k8sboot.engine.modules.base import ModuleContext, ModuleResult, ModuleSpec

_SCRIPT = r"""
import json, ssl, sys, urllib.request, urllib.error
a = json.loads(sys.argv[1])
ctx = None
if a["url"].startswith("https"):
    ctx = ssl.create_default_context(cafile=a.get("ca_path"))
    if not a.get("validate_certs", True):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if a.get("client_cert"):
        ctx.load_cert_chain(a["client_cert"], a.get("client_key"))
body = a.get("body")
if body is not None and not isinstance(body, str):
    body = json.dumps(body)
req = urllib.request.Request(a["url"], method=a.get("method", "GET"),
                             data=body.encode() if body is not None else None,
                             headers=a.get("headers") or {})
try:
    with urllib.request.urlopen(req, context=ctx, timeout=a.get("timeout", 30)) as r:
        out = {"status": r.status, "content": r.read().decode(errors="replace")}
except urllib.error.HTTPError as e:
    out = {"status": e.code, "content": e.read().decode(errors="replace")}
except Exception as e:
    out = {"status": -1, "content": "", "msg": f"{type(e).__name__}: {e}"}
print(json.dumps(out))
"""

# what follows the body on curl's stdout: the HTTP status (000: no answer -> status -1)
_CURL_STATUS_MARK = "__k8sboot_status="


def curl_command(args: dict[str, Any]) -> str | None:
    """The curl command for a plain GET; None when only python3 can do the request."""
    if args.get("method", "GET") != "GET" or args.get("body") is not None or args.get("headers"):
        return None
    words = ["curl", "-sS", "--max-time", str(int(args.get("timeout", 30))), "-w",
             f"\n{_CURL_STATUS_MARK}%{{http_code}}"]
    if args.get("ca_path"):
        words += ["--cacert", str(args["ca_path"])]
    if not args.get("validate_certs", True):
        words.append("-k")
    if args.get("client_cert"):
        words += ["--cert", str(args["client_cert"])]
    if args.get("client_key"):
        words += ["--key", str(args["client_key"])]
    words += ["--", str(args["url"])]
    # exit 127 (no curl on the host): the caller asks python3 instead
    return "command -v curl >/dev/null 2>&1 || exit 127; " + " ".join(shlex.quote(w) for w in words)


def _curl_answer(stdout: str, stderr: str, rc: int) -> dict[str, Any]:
    body, _, status = stdout.rpartition(f"\n{_CURL_STATUS_MARK}")
    if rc != 0 or not status.strip().isdigit() or int(status) == 0:
        return {"status": -1, "content": "", "msg": f"curl: {stderr.strip() or f'exit {rc}'}"}
    return {"status": int(status), "content": body}


ARGS = frozenset({"url", "method", "status_code", "ca_path", "client_cert", "client_key",
                  "validate_certs", "return_content", "timeout", "body", "body_format", "headers"})


def run(ctx: ModuleContext, args: dict[str, Any]) -> ModuleResult:
    if ctx.check:
        return ModuleResult(skipped=True, msg="skipped in check mode")
    expected = args.get("status_code", [200])
    expected = [int(s) for s in (expected if isinstance(expected, list) else [expected])]
    payload = {k: v for k, v in args.items() if k not in ("status_code", "return_content", "body_format")}
    curl = curl_command(payload)
    if curl is not None:
        r = ctx.conn.run(curl, become=ctx.become)
        if r.rc != 127:
            return _result(args, _curl_answer(r.stdout, r.stderr, r.rc), expected)
    r = ctx.conn.run(f"python3 -c {shlex.quote(_SCRIPT)} {shlex.quote(json.dumps(payload))}",
                     become=ctx.become)
    if r.rc != 0:
        return ModuleResult(failed=True, msg=f"uri: python3 on the host failed: {r.stderr_tail(3)}",
                            rc=r.rc, stderr=r.stderr, cmd=f"GET {args['url']}")
    try:
        out = json.loads(r.stdout)
    except ValueError:
        return ModuleResult(failed=True, msg=f"uri: unexpected output from the host: {r.stdout[:200]!r}",
                            rc=r.rc, stdout=r.stdout, cmd=f"GET {args['url']}")
    return _result(args, out, expected)


def _result(args: dict[str, Any], out: dict[str, Any], expected: list[int]) -> ModuleResult:
    data = {"status": out["status"], "url": args["url"]}
    if args.get("return_content"):
        data["content"] = out["content"]
    if out["status"] not in expected:
        msg = out.get("msg") or f"status {out['status']}, expected {expected}: {out['content'][:200]}"
        return ModuleResult(failed=True, msg=f"{args['url']}: {msg}", data=data)
    return ModuleResult(changed=False, msg=f"{args['url']}: {out['status']}", data=data)


SPEC = ModuleSpec("uri", run, ARGS, frozenset({"url"}))
