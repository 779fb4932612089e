"""`k8sboot image build`: the VM base image, cached and rebuilt only when its recipe changes.

``--format vagrant-libvirt`` also packages it as a Vagrant box and adds it to
Vagrant (cached the same way: by the base image's recipe hash).
"""

from __future__ import annotations

import argparse
import time

from k8sboot import ui
from k8sboot.vm_image import ensure_base_image


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    image = ensure_base_image(force=args.force, log=ui.info)
    ui.info(f"base image {image.recipe_hash}: disk {image.disk}, kernel {image.kernel} "
            f"({time.monotonic() - started:.1f}s)")
    if getattr(args, "format", "disk") == "vagrant-libvirt":
        from k8sboot.vm_image.vagrant_box import ensure_box

        box_started = time.monotonic()
        box = ensure_box(image, ui.info, force=args.force)
        ui.info(f"vagrant box {box.name} ({box.box_id}): {box.path}; kernel and initrd in "
                f"{box.boot_dir} ({time.monotonic() - box_started:.1f}s)")
    return 0
