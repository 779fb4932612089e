"""Phase: the image archives every node imports, the pause image first.

No registry is reachable (nor needed): the sandbox image containerd uses is
made locally from a static binary unless the inventory names one.
"""

from __future__ import annotations

from pathlib import Path

from k8sboot import ui
from k8sboot.container_images.pause import DEFAULT_PAUSE_TAG, build_pause_image
from k8sboot.errors import InputError
from k8sboot.phases.base import RunContext
from k8sboot.phases.learned import ImageSet


class Images:
    title = "images"

    def run(self, ctx: RunContext) -> None:
        inv = ctx.inventory
        settings = inv.cluster.get("images") or {}
        archives: list[tuple[str, str]] = []
        pause = settings.get("pause")
        if pause:
            tar = Path(str(pause.get("archive", ""))).expanduser()
            if not tar.is_file():
                raise InputError(f"cluster.images.pause.archive: {tar} does not exist", file=str(inv.path))
            tag = str(pause.get("name") or DEFAULT_PAUSE_TAG)
        else:
            tag = DEFAULT_PAUSE_TAG
            tar = build_pause_image(ctx.state.ensure().root / "images" / "pause.tar", tag)
        archives.append((str(tar), tag))
        for i, extra in enumerate(settings.get("archives") or []):
            src = Path(str(extra.get("archive", ""))).expanduser()
            if not src.is_file():
                raise InputError(f"cluster.images.archives[{i}].archive: {src} does not exist",
                                 file=str(inv.path))
            archives.append((str(src), str(extra["name"])))
        ctx.learned.images = ImageSet(sandbox_image=tag, archives=tuple(archives))
        ui.info(f"  sandbox image {tag} from {tar}")
