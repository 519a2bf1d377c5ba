#!/usr/bin/env bash
# The comparisons against the peers (nginx, wrk, the ideal time, C10K, cost
# per request, the async prime saver's bound, the models at scale, bare
# sockets as the floor) in one command; see bench/peers.py --help.
#   bench/peers.sh [--quick] [--only server,client,...] [--out DIR]
# Installs wrk, nginx-light and valgrind if missing, and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
for a in "$@"; do [ "$a" = -h ] || [ "$a" = --help ] && exec python3 bench/peers.py --help; done
scripts/setup.sh --bench --plots
py=$(scripts/find-python.sh)
exec "$py" bench/peers.py --build "${BUILD_DIR:-build}" "$@"
