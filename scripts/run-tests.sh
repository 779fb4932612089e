#!/usr/bin/env bash
# Every test, in two lanes at once, inside the lab's network namespace:
#   the VM lane (-m vm): the libvirt and Vagrant VMs, software-emulated here, ~16 min
#     of mostly one emulated machine booting and starting Go binaries;
#   the rest (-m "not vm"): the container clusters, then the unit tests.
# One after the other they took 69 min; the VM lane shares nothing with the rest
# (its own libvirt networks and machines, no containers). Its output is printed
# when both are done; the exit status is the worse of the two.
# Usage: scripts/run-tests.sh [pytest args for both lanes]
set -uo pipefail
cd "$(dirname "$0")/.."
LAB=scripts/lab-netns.sh
PYTEST=.venv/bin/pytest

vm_log=$(mktemp /tmp/k8sboot-vm-lane.XXXXXX)
bash "$LAB" exec "$PYTEST" -q --durations=5 -m vm "$@" > "$vm_log" 2>&1 &
vm_pid=$!
# a stopped run (Ctrl-C, CI's timeout) stops the VM lane too; its fixtures clean up on TERM
trap 'kill -TERM "$vm_pid" 2>/dev/null' INT TERM

bash "$LAB" exec "$PYTEST" -q --durations=25 -m "not vm" "$@"
rest=$?
echo "(the VM lane, -m vm, still running: waiting for it)"
wait "$vm_pid"
vm=$?
trap - INT TERM

echo "=================== the VM lane (-m vm): exit $vm ==================="
cat "$vm_log"
rm -f "$vm_log"
# pytest: 5 = nothing collected (a -k that leaves a lane empty) is not a failure
[ "$vm" = 5 ] && vm=0
[ "$rest" = 5 ] && rest=0
exit $(( rest > vm ? rest : vm ))
