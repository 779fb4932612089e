"""A VM's libvirt definition: direct kernel boot of the base image's kernel, the
overlay and the seed disk, one NIC on the cluster's network, a logged serial console."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from k8sboot.inventory.model import Host, Inventory
from k8sboot.providers.libvirt.disks import BootFiles, VmFiles
from k8sboot.providers.libvirt.names import mac_address, network_name
from k8sboot.providers.libvirt.settings import DEFAULT_CPUS, DEFAULT_MEMORY_MIB


def domain_xml(name: str, host: Host, inventory: Inventory, accelerator: str,
               files: VmFiles, boot: BootFiles) -> str:
    cpus = int(host.vars.get("cpus", DEFAULT_CPUS))
    memory = int(host.vars.get("memory", DEFAULT_MEMORY_MIB))
    root = ET.Element("domain", type="kvm" if accelerator == "kvm" else "qemu")
    ET.SubElement(root, "name").text = name
    ET.SubElement(root, "memory", unit="MiB").text = str(memory)
    ET.SubElement(root, "vcpu").text = str(cpus)
    os_el = ET.SubElement(root, "os")
    ET.SubElement(os_el, "type", arch="x86_64").text = "hvm"
    ET.SubElement(os_el, "kernel").text = str(boot.kernel)
    ET.SubElement(os_el, "initrd").text = str(boot.initrd)
    ET.SubElement(os_el, "cmdline").text = "root=/dev/vda rw console=ttyS0"
    features = ET.SubElement(root, "features")
    ET.SubElement(features, "acpi")  # the power button: graceful shutdown
    ET.SubElement(features, "apic")
    if accelerator == "kvm":
        # under TCG no <cpu>: host-passthrough asserts in qemu (LAB.md)
        ET.SubElement(root, "cpu", mode="host-passthrough")
    ET.SubElement(root, "clock", offset="utc")
    ET.SubElement(root, "on_poweroff").text = "destroy"
    ET.SubElement(root, "on_reboot").text = "restart"
    ET.SubElement(root, "on_crash").text = "destroy"
    devices = ET.SubElement(root, "devices")
    disk = ET.SubElement(devices, "disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="qcow2", discard="unmap")
    ET.SubElement(disk, "source", file=str(files.overlay))
    ET.SubElement(disk, "target", dev="vda", bus="virtio")
    seed = ET.SubElement(devices, "disk", type="file", device="disk")
    ET.SubElement(seed, "driver", name="qemu", type="raw")
    ET.SubElement(seed, "source", file=str(files.seed))
    ET.SubElement(seed, "target", dev="vdb", bus="virtio")
    ET.SubElement(seed, "readonly")
    nic = ET.SubElement(devices, "interface", type="network")
    ET.SubElement(nic, "mac", address=mac_address(inventory, host))
    ET.SubElement(nic, "source", network=network_name(inventory))
    ET.SubElement(nic, "model", type="virtio")
    serial = ET.SubElement(devices, "serial", type="pty")
    ET.SubElement(serial, "log", file=str(files.console), append="off")
    ET.SubElement(serial, "target", port="0")
    console = ET.SubElement(devices, "console", type="pty")
    ET.SubElement(console, "target", type="serial", port="0")
    rng = ET.SubElement(devices, "rng", model="virtio")  # entropy for sshd's first keys
    ET.SubElement(rng, "backend", model="random").text = "/dev/urandom"
    ET.SubElement(devices, "memballoon", model="none")
    return ET.tostring(root, encoding="unicode")
