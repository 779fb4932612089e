"""Opt-in fix for one known defect of Kubernetes 1.20 sources built with Go >= 1.18.

Kubernetes 1.20 vendors github.com/modern-go/reflect2 v1.0.1, which reads Go's
runtime internals in a way Go 1.18 changed. Built with Debian's Go 1.19 the
binaries start and pass `--version`, but `kubectl config set-credentials` crashes
and any YAML or pretty-printed apiserver response crashes that request and
leaves the apiserver failing later creates until restarted. reflect2 v1.0.2
(Debian's golang-github-modern-go-reflect2-dev, /usr/share/gocode) fixes it;
replacing the vendored .go/.s files before building is enough (checked in the
lab). This edits the user's tree, hence opt-in (`--fix-reflect2`). Newer
Kubernetes releases vendor v1.0.2 already; so does a tree fixed before: both are
left as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

VENDORED = Path("vendor/github.com/modern-go/reflect2")
DEBIAN_SOURCE = Path("/usr/share/gocode/src/github.com/modern-go/reflect2")


def _code_files(d: Path) -> dict[str, bytes]:
    # only what the compiler reads: .go (not tests) and .s; docs, BUILD files stay
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())
            if p.is_file() and p.suffix in (".go", ".s") and not p.name.endswith("_test.go")}


def problems(src_dir: Path, replacement: Path = DEBIAN_SOURCE) -> list[str]:
    """What stops the swap, as messages (empty when it can be done)."""
    out = []
    if not (src_dir / VENDORED).is_dir():
        out.append(f"--fix-reflect2: {src_dir / VENDORED} does not exist (this tree does not "
                   f"vendor reflect2)")
    if not replacement.is_dir() or not any(replacement.glob("*.go")):
        out.append(f"--fix-reflect2: {replacement} is missing: install Debian's "
                   f"golang-github-modern-go-reflect2-dev (reflect2 v1.0.2)")
    return out


def swap_reflect2(src_dir: Path, log: Callable[[str], None],
                  replacement: Path = DEBIAN_SOURCE) -> bool:
    """Replace the vendored reflect2 code with the replacement's; True if anything changed."""
    vendored = src_dir / VENDORED
    wanted = _code_files(replacement)
    current = _code_files(vendored)
    if current == wanted:
        log(f"reflect2: {vendored} already matches {replacement}")
        return False
    for name in current.keys() - wanted.keys():
        (vendored / name).unlink()
    for name, data in wanted.items():
        (vendored / name).write_bytes(data)
    log(f"reflect2: replaced {vendored} with {replacement} ({len(wanted)} files)")
    return True
