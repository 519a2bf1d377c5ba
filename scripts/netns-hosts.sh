#!/usr/bin/env bash
# Hosts on one machine, for crawl-mpi's multi-host tests: network namespaces
# tbh1..tbhN on a bridge, each with its own address (10.77.0.11, .12, ...),
# so each rank has its own source address and port range, as on real hosts.
# The root namespace is 10.77.0.1 on the bridge (where the delay server and
# mpirun run).
#   scripts/netns-hosts.sh up N      creates them (replacing any left over)
#   scripts/netns-hosts.sh down      removes them
#   scripts/netns-hosts.sh agent ADDRESS COMMAND...
#                                    runs COMMAND in the namespace that holds
#                                    ADDRESS: mpirun's launch agent
#                                    (--mca plm_rsh_agent "scripts/netns-hosts.sh agent")
set -euo pipefail
NET=10.77.0
BRIDGE=tb-br0

down() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '/^tbh[0-9]+/ {print $1}'); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns delete "$ns" 2>/dev/null || true
  done
  ip link delete "$BRIDGE" 2>/dev/null || true
  # A deleted namespace's links go a moment later, in the kernel's own time.
  local i
  for i in $(seq 1 50); do
    ip -br link 2>/dev/null | grep -q '^tb-' || return 0
    sleep 0.1
  done
}

case "${1:-}" in
  up)
    n=${2:?usage: netns-hosts.sh up N}
    down
    ip link add "$BRIDGE" type bridge
    ip addr add "$NET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    for i in $(seq 1 "$n"); do
      ns=tbh$i
      ip netns add "$ns"
      ip link add "tb-veth$i" type veth peer name eth0 netns "$ns"
      ip link set "tb-veth$i" master "$BRIDGE" up
      ip -n "$ns" addr add "$NET.$((10 + i))/24" dev eth0
      ip -n "$ns" link set eth0 up
      ip -n "$ns" link set lo up
      ip -n "$ns" route add default via "$NET.1"
    done
    ;;
  down)
    down
    ;;
  agent)
    # Open MPI calls its agent as ssh: AGENT HOST COMMAND..., the command to
    # be read by a shell on that host.
    shift
    host=$1
    shift
    i=${host##*.}
    exec ip netns exec "tbh$((i - 10))" /bin/sh -c "$*"
    ;;
  *)
    echo "usage: netns-hosts.sh up N | down | agent ADDRESS COMMAND..." >&2
    exit 2
    ;;
esac
