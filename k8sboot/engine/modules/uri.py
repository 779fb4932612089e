"""ansible.builtin.uri: an HTTP(S) request made from the host itself.

As Ansible's own module does, it runs with the host's python3, so a URL like
https://127.0.0.1:6443/readyz means the host's loopback, with the host's
copies of the CA and client certificate.
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

ARGS = frozenset({"url", "method", "status_code", "ca_path", "client_cert", "client_key",
                  "validate_certs", "return_content", "timeout", "body", "body_format", "headers"})


def run(ctx: ModuleContext, args: dict[str, Any]) -> ModuleResult:
    if ctx.check:
        return ModuleResult(skipped=True, msg="skipped in check mode")
    expected = args.get("status_code", [200])
    expected = [int(s) for s in (expected if isinstance(expected, list) else [expected])]
    payload = {k: v for k, v in args.items() if k not in ("status_code", "return_content", "body_format")}
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
    data = {"status": out["status"], "url": args["url"]}
    if args.get("return_content"):
        data["content"] = out["content"]
    if out["status"] not in expected:
        msg = out.get("msg") or f"status {out['status']}, expected {expected}: {out['content'][:200]}"
        return ModuleResult(failed=True, msg=f"{args['url']}: {msg}", data=data)
    return ModuleResult(changed=False, msg=f"{args['url']}: {out['status']}", data=data)


SPEC = ModuleSpec("uri", run, ARGS, frozenset({"url"}))
