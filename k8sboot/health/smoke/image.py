"""The smoke image: Debian's static busybox serving a tiny page with `httpd` on 8080."""

from __future__ import annotations

from pathlib import Path

from k8sboot.errors import InputError
from k8sboot.container_images import build_static_image

TAG = "k8sboot.local/smoke-httpd:1"
PORT = 8080
PAGE = b"k8sboot smoke ok\n"
BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static


def build_smoke_image(out_dir: Path, busybox: Path = BUSYBOX) -> Path:
    """Write the image tar under out_dir: the same bytes on every rebuild (reproducible)."""
    if not busybox.is_file():
        raise InputError(
            f"--smoke needs a static busybox at {busybox} (apt-get install busybox-static)"
        )
    return build_static_image(
        out_dir / "smoke-httpd.tar",
        TAG,
        {"/bin/busybox": busybox, "/www/index.html": PAGE},
        ["/bin/busybox", "httpd", "-f", "-p", str(PORT), "-h", "/www"],
    )
