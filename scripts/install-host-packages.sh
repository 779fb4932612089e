#!/usr/bin/env bash
# Installs the Debian packages the lab and the builds need. Idempotent: a
# stamp file holding the package list skips apt entirely on a second run.
set -euo pipefail

PACKAGES=(
  # libvirt VMs (software-emulated here) and the python binding's build deps
  qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-daemon-driver-qemu
  libvirt-clients libvirt-dev pkg-config gcc dnsmasq-base iptables iproute2
  # a static C program stands in for a broken kubelet build in the upgrade tests
  libc6-dev
  # base image without loop devices or mounts
  mmdebstrap e2fsprogs
  # system containers: fast stand-ins for physical machines
  lxc
  # building Kubernetes from Debian's source package (see LAB.md)
  dpkg-dev golang-go rsync jq golang-github-modern-go-reflect2-dev
  # etcd is the user-supplied etcd of the tests; busybox-static makes the pause image
  etcd-server etcd-client busybox-static containerd
  openssh-client
  # the Vagrant path (provider: vagrant): Debian's vagrant and its libvirt plugin
  vagrant vagrant-libvirt
)

stamp_dir="${XDG_CACHE_HOME:-$HOME/.cache}/k8sboot"
stamp="$stamp_dir/host-packages.stamp"
mkdir -p "$stamp_dir"
want="${PACKAGES[*]}"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && dpkg -s "${PACKAGES[@]}" >/dev/null 2>&1; then
  echo "host packages: already installed"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Debian's etcd-server and libvirt postinsts try to start services; without
# systemd as PID 1 that fails harmlessly, but policy-rc.d keeps them quiet.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
echo "$want" > "$stamp"
echo "host packages: installed"
