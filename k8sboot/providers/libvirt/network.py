"""The cluster's libvirt network: isolated (no <forward>: nothing is routed or NATed
anywhere), a bridge whose DHCP pins one address per MAC."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt

from k8sboot.errors import RunError
from k8sboot.inventory.model import Inventory
from k8sboot.providers.base import Log
from k8sboot.providers.libvirt.names import bridge_name, network_name
from k8sboot.providers.libvirt.settings import LibvirtSettings

# host name -> (MAC, address) for DHCP
Pins = dict[str, tuple[str, str]]


def lookup_network(conn: libvirt.virConnect, name: str) -> libvirt.virNetwork | None:
    try:
        return conn.networkLookupByName(name)
    except libvirt.libvirtError:
        return None


def network_xml(inventory: Inventory, settings: LibvirtSettings, hosts: Pins) -> str:
    """An isolated network: no <forward>. DHCP serves only the pinned hosts."""
    net = settings.network
    gateway = str(net.network_address + 1)
    ns = "http://libvirt.org/schemas/network/dnsmasq/1.0"
    ET.register_namespace("dnsmasq", ns)
    root = ET.Element("network")
    ET.SubElement(root, "name").text = network_name(inventory)
    ET.SubElement(root, "bridge", name=bridge_name(inventory), stp="off", delay="0")
    ET.SubElement(root, "dns", enable="no")
    ip = ET.SubElement(root, "ip", address=gateway, netmask=str(net.netmask))
    dhcp = ET.SubElement(ip, "dhcp")
    for name, (mac, address) in hosts.items():
        ET.SubElement(dhcp, "host", mac=mac, name=name, ip=address)
    # Kubernetes components pick their address from the default route: give the VMs
    # one, to the bridge. It leads nowhere (the lab namespace has no way out).
    options = ET.SubElement(root, f"{{{ns}}}options")
    ET.SubElement(options, f"{{{ns}}}option", value=f"dhcp-option=option:router,{gateway}")
    return ET.tostring(root, encoding="unicode")


def ensure_network(conn: libvirt.virConnect, inventory: Inventory, settings: LibvirtSettings,
                   hosts: Pins, log: Log) -> None:
    name = network_name(inventory)
    network = lookup_network(conn, name)
    if network is None:
        log(f"libvirt: network {name} ({settings.network}, isolated)")
        network = conn.networkDefineXML(network_xml(inventory, settings, hosts))
    else:
        add_dhcp_hosts(network, hosts, log)
    if not network.isActive():
        try:
            network.create()
        except libvirt.libvirtError as exc:
            raise RunError(f"cannot start network {name} ({settings.network}): "
                           f"{exc.get_error_message()} (another network on this range? "
                           "set cluster.provider.network)") from None


def add_dhcp_hosts(network: libvirt.virNetwork, hosts: Pins, log: Log) -> None:
    """Pin hosts that are new to an existing network (live and persistent)."""
    have = {h.get("mac", "").lower() for h in ET.fromstring(network.XMLDesc()).iter("host")}
    flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
    if network.isActive():
        flags |= libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
    for name, (mac, address) in hosts.items():
        if mac.lower() in have:
            continue
        log(f"libvirt: pinning {name} to {address} in {network.name()}")
        entry = ET.tostring(ET.Element("host", mac=mac, name=name, ip=address), encoding="unicode")
        network.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                       libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, entry, flags)


def remove_network(conn: libvirt.virConnect, name: str, log: Log) -> None:
    network = lookup_network(conn, name)
    if network is not None:
        log(f"libvirt: removing network {network.name()}")
        if network.isActive():
            network.destroy()
        network.undefine()
