# Debian packages the scripts need, installed only when missing. Source it.

# What building and testing the project needs.
BASE_PACKAGES=(g++ cmake make libboost1.81-dev libboost-program-options1.81-dev libboost-context1.81-dev libboost-url1.81-dev
               libcurl4-openssl-dev nlohmann-json3-dev catch2 libsqlite3-dev sqlite3 libcrypt-dev
               libssl-dev)

# The Python models (pycrawl/models.py names each model's): the libraries of
# the book's crawlers, from Debian.
PYTHON_MODEL_PACKAGES=(python3 python3-requests python3-gevent python3-tornado python3-pycurl python3-aiohttp
                       python3-uvloop)

# crawl-mpi and its tests: Open MPI, and ip for the network namespaces.
MPI_PACKAGES=(openmpi-bin libopenmpi-dev iproute2)

# ensure_packages PKG...: apt-get installs those not installed yet.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "setup: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q >/dev/null
  # Packages with a service (nginx) must not start it: the benchmarks run their
  # own on a free port. policy-rc.d saying 101 is Debian's way to ask for that.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && own_policy=1
  fi
  # No recommends: python3-matplotlib recommends packages that pull Boost 1.74,
  # which conflicts with Boost 1.81 (apt would silently remove one of them).
  local rc=0
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  [ $own_policy = 1 ] && $sudo rm -f "$policy"
  return $rc
}

# check_boost: fails unless the Boost 1.81 headers survived every install.
check_boost() {
  grep -q 'define BOOST_VERSION 1081' /usr/include/boost/version.hpp 2>/dev/null ||
    { echo "setup: Boost 1.81 headers are missing (libboost1.81-dev)" >&2; return 1; }
}
