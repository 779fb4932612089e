#!/usr/bin/env bash
# The lab's network namespace and the libvirt daemons that live in it.
#
#   scripts/lab-netns.sh up          create the netns, start virtlogd + libvirtd in it
#   scripts/lab-netns.sh down        stop those daemons, delete the netns
#   scripts/lab-netns.sh exec CMD..  run CMD inside the netns
#
# Every address a lab VM or container gets is private to this namespace: nothing
# the lab does can reach (or be reached from) the host's own network. See LAB.md.
# Idempotent: `up` twice is the same as once; `down` on nothing is fine.
set -euo pipefail

NETNS="${K8SBOOT_NETNS:-k8sboot-lab}"
NETNS_PATH="/var/run/netns/$NETNS"
RUN_DIR="/run/k8sboot-lab"
# Per-netns pid files so two lab namespaces never stop each other's daemons.
VIRTLOGD_PID="$RUN_DIR/$NETNS-virtlogd.pid"
LIBVIRTD_PID="$RUN_DIR/$NETNS-libvirtd.pid"

in_netns() {
  # nsenter --net only: `ip netns exec` remounts /sys and hides the cgroup mounts.
  nsenter --net="$NETNS_PATH" "$@"
}

pid_alive() {
  local file="$1" pid
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file" 2>/dev/null)" || return 1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

host_tuning() {
  # Without this libvirtd re-probes qemu at every lookup (50 s per define), even for TCG.
  if [[ -e /dev/kvm ]]; then
    chgrp kvm /dev/kvm && chmod 660 /dev/kvm
  fi
  # systemd in many containers stalls on the default 128 inotify instances.
  local cur
  cur="$(sysctl -n fs.inotify.max_user_instances)"
  (( cur >= 8192 )) || sysctl -qw fs.inotify.max_user_instances=8192
  cur="$(sysctl -n fs.inotify.max_user_watches)"
  (( cur >= 1048576 )) || sysctl -qw fs.inotify.max_user_watches=1048576
}

netns_up() {
  if [[ ! -e "$NETNS_PATH" ]]; then
    ip netns add "$NETNS"
  fi
  in_netns ip link set lo up
}

daemons_up() {
  mkdir -p "$RUN_DIR"
  if ! pid_alive "$VIRTLOGD_PID"; then
    in_netns virtlogd -d --pid-file "$VIRTLOGD_PID"
  fi
  if ! pid_alive "$LIBVIRTD_PID"; then
    in_netns libvirtd -d --pid-file "$LIBVIRTD_PID"
  fi
  local i
  for i in $(seq 1 120); do
    if in_netns virsh -q -c qemu:///system version >/dev/null 2>&1; then
      echo "lab: netns $NETNS up, libvirtd pid $(cat "$LIBVIRTD_PID")"
      return 0
    fi
    sleep 0.5
  done
  echo "lab: libvirtd did not answer within 60 s" >&2
  return 1
}

stop_pidfile() {
  local file="$1" name="$2" pid i
  if pid_alive "$file"; then
    pid="$(cat "$file")"
    kill "$pid"
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "lab: $name ($pid) ignored SIGTERM, killing" >&2
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}

cmd="${1:-}"
case "$cmd" in
  up)
    host_tuning
    netns_up
    daemons_up
    ;;
  down)
    stop_pidfile "$LIBVIRTD_PID" libvirtd
    stop_pidfile "$VIRTLOGD_PID" virtlogd
    if [[ -e "$NETNS_PATH" ]]; then
      ip netns delete "$NETNS"
    fi
    echo "lab: netns $NETNS down"
    ;;
  exec)
    shift
    [[ $# -gt 0 ]] || { echo "usage: $0 exec CMD..." >&2; exit 2; }
    [[ -e "$NETNS_PATH" ]] || { echo "lab: netns $NETNS is not up (run: $0 up)" >&2; exit 1; }
    exec nsenter --net="$NETNS_PATH" "$@"
    ;;
  *)
    echo "usage: $0 up|down|exec CMD..." >&2
    exit 2
    ;;
esac
