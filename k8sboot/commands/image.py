"""`k8sboot image build`: the VM base image, cached and rebuilt only when its recipe changes."""

from __future__ import annotations

import time
from typing import Any

from k8sboot import ui
from k8sboot.image import ensure_base_image


def run(args: Any) -> int:
    started = time.monotonic()
    image = ensure_base_image(force=args.force, log=ui.info)
    ui.info(f"base image {image.recipe_hash}: disk {image.disk}, kernel {image.kernel} "
            f"({time.monotonic() - started:.1f}s)")
    return 0
