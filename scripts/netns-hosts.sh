#!/usr/bin/env bash
# Hosts on one machine, for crawl-mpi's multi-host tests: network namespaces on
# a bridge, each with its own address, so each rank has its own source address
# and port range, as on real hosts. Set ID (0-255, default 0) is the subnet:
# hosts 10.77.ID.11, .12, ... in namespaces tbID-1, tbID-2, ...; the root
# namespace is 10.77.ID.1 on the bridge tbbrID (where the delay servers and
# mpirun run). Different IDs can exist side by side (two test runs at once).
#   scripts/netns-hosts.sh up ID N     creates N hosts (replacing any left over)
#   scripts/netns-hosts.sh down ID     removes them
#   scripts/netns-hosts.sh agent ADDRESS COMMAND...
#                                      runs COMMAND in the namespace that holds
#                                      ADDRESS: mpirun's launch agent
#                                      (--mca plm_rsh_agent "scripts/netns-hosts.sh agent")
set -euo pipefail

# Commands enter a namespace with nsenter (network only), not `ip netns exec`
# or `ip -n`, which also remount / and /sys and fail inside a chroot.
in_ns() {
  local ns=$1
  shift
  nsenter --net="/run/netns/$ns" "$@"
}

down() {
  local id=$1 ns
  for ns in $(ip netns list 2>/dev/null | awk -v p="^tb$id-[0-9]+\$" '$1 ~ p {print $1}'); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns delete "$ns" 2>/dev/null || true
  done
  ip link delete "tbbr$id" 2>/dev/null || true
  # A deleted namespace's links go a moment later, in the kernel's own time.
  local i
  for i in $(seq 1 50); do
    ip -br link 2>/dev/null | grep -q "^tbv$id-" || return 0
    sleep 0.1
  done
}

case "${1:-}" in
  up)
    id=${2:?usage: netns-hosts.sh up ID N}
    n=${3:?usage: netns-hosts.sh up ID N}
    down "$id"
    ip link add "tbbr$id" type bridge
    ip addr add "10.77.$id.1/24" dev "tbbr$id"
    ip link set "tbbr$id" up
    for i in $(seq 1 "$n"); do
      ns=tb$id-$i
      ip netns add "$ns"
      ip link add "tbv$id-$i" type veth peer name eth0 netns "$ns"
      ip link set "tbv$id-$i" master "tbbr$id" up
      in_ns "$ns" ip addr add "10.77.$id.$((10 + i))/24" dev eth0
      in_ns "$ns" ip link set eth0 up
      in_ns "$ns" ip link set lo up
      # No default route: the hosts only talk on their subnet, and a name
      # lookup (Open MPI looks up host names) fails at once instead of
      # waiting 20 s for a DNS server it cannot reach.
    done
    ;;
  down)
    down "${2:?usage: netns-hosts.sh down ID}"
    ;;
  agent)
    # Open MPI calls its agent as it would ssh: AGENT HOST COMMAND..., the
    # command to be read by a shell on that host.
    shift
    host=$1
    shift
    IFS=. read -r _ _ id last <<<"$host"
    exec nsenter --net="/run/netns/tb$id-$((last - 10))" /bin/sh -c "$*"
    ;;
  *)
    echo "usage: netns-hosts.sh up ID N | down ID | agent ADDRESS COMMAND..." >&2
    exit 2
    ;;
esac
