"""The base image: a Debian rootfs (for system containers) and a disk (for VMs)."""

from k8sboot.vm_image.build import BaseImage, ImageBuildError, ensure_base_image

__all__ = ["BaseImage", "ImageBuildError", "ensure_base_image"]
