"""Container images made locally (no registry is reachable): docker-save tars to import."""

from k8sboot.container_images.archive import build_static_image
from k8sboot.container_images.pause import DEFAULT_PAUSE_TAG, build_pause_image

__all__ = ["DEFAULT_PAUSE_TAG", "build_pause_image", "build_static_image"]
