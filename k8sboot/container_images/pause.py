"""The pods' sandbox ("pause") image, made here: no registry is reachable.

containerd 1.6 starts every pod's sandbox from its own `sandbox_image` setting
(default registry.k8s.io/pause:3.6), not from the kubelet's flag, so the image
carries that tag. Its only file is /pause, a static program that sleeps until
SIGTERM/SIGINT (exit 0) and reaps orphans, as the upstream pause does.

Built with `gcc -static` when gcc (and a static libc) is there. Otherwise the
fallback is busybox-static running `sleep infinity`, with a LIMITATION: as PID 1
of the pod's PID namespace, a process without a handler for SIGTERM ignores it,
so stopping a sandbox waits for the runtime's timeout and SIGKILL (pod deletion
is slower) and orphans of a shared PID namespace are not reaped.

The result is cached as <cache>/images/pause-<key>.tar, key = the recipe (source,
tag, compiler or busybox identity), and written reproducibly: the same inputs
give the same sha256, so reruns find the hosts up to date.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from k8sboot.binaries.resolve import default_cache_dir
from k8sboot.errors import K8sbootError
from k8sboot.container_images.archive import build_static_image, write_if_changed

DEFAULT_PAUSE_TAG = "registry.k8s.io/pause:3.6"
RECIPE_VERSION = 1  # bump when the image layout changes without the inputs changing

PAUSE_C = r"""/* k8sboot pause: hold a pod's namespaces open until told to stop. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
    (void)sig;
    /* PID 1 of a shared PID namespace inherits orphans: collect them */
    while (waitpid(-1, 0, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction sa = {0};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = stop;
    if (sigaction(SIGINT, &sa, 0) < 0 || sigaction(SIGTERM, &sa, 0) < 0) return 1;
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    if (sigaction(SIGCHLD, &sa, 0) < 0) return 1;
    for (;;) pause();
}
"""


class PauseImageError(K8sbootError):
    """Neither gcc with a static libc nor a static busybox is available."""


def _gcc_identity() -> str | None:
    """gcc's version line if gcc can be used, else None."""
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    try:
        out = subprocess.run([gcc, "--version"], check=False, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.splitlines()[0] if out.returncode == 0 and out.stdout else None


def _compile(workdir: Path) -> Path | None:
    src, binary = workdir / "pause.c", workdir / "pause"
    src.write_text(PAUSE_C)
    proc = subprocess.run(["gcc", "-static", "-Os", "-s", "-o", str(binary), str(src)],
                          check=False, capture_output=True, text=True, timeout=120)
    # no static libc (libc6-dev missing) shows up here: fall back rather than fail
    return binary if proc.returncode == 0 else None


def _busybox_sha(busybox: Path) -> str | None:
    if not busybox.is_file():
        return None
    return hashlib.sha256(busybox.read_bytes()).hexdigest()


def build_pause_image(out_path: Path, tag: str = DEFAULT_PAUSE_TAG,
                      busybox: Path = Path("/bin/busybox"), *,
                      cache_dir: Path | None = None) -> Path:
    """Write the pause image tar to out_path (from the cache when it was built before)."""
    images = (cache_dir or default_cache_dir()) / "images"
    gcc = _gcc_identity()
    if gcc is not None:
        cached = _cached(images, {"method": "gcc", "gcc": gcc, "source": PAUSE_C, "tag": tag})
        if not cached.exists():
            with tempfile.TemporaryDirectory(prefix="k8sboot-pause-") as tmp:
                binary = _compile(Path(tmp))
                if binary is not None:
                    build_static_image(cached, tag, {"/pause": binary}, ["/pause"])
        if cached.exists():
            return _deliver(cached, out_path)

    bb_sha = _busybox_sha(busybox)
    if bb_sha is None:
        raise PauseImageError(f"cannot build the pause image: gcc with a static libc "
                              f"(gcc, libc6-dev) is not usable and {busybox} does not exist "
                              f"(install busybox-static)")
    cached = _cached(images, {"method": "busybox", "busybox": bb_sha, "tag": tag})
    if not cached.exists():
        # see the module doc: sleep ignores SIGTERM as PID 1
        build_static_image(cached, tag, {"/bin/busybox": busybox},
                           ["/bin/busybox", "sleep", "infinity"])
    return _deliver(cached, out_path)


def _cached(images: Path, recipe: dict[str, str]) -> Path:
    key = hashlib.sha256(json.dumps({**recipe, "v": RECIPE_VERSION}, sort_keys=True).encode())
    return images / f"pause-{key.hexdigest()[:16]}.tar"


def _deliver(cached: Path, out_path: Path) -> Path:
    if out_path.resolve() != cached.resolve():
        write_if_changed(out_path, cached.read_bytes())
    return out_path
