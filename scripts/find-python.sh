#!/usr/bin/env bash
# Prints the path of a python3 that can import matplotlib. The python3 first on
# PATH may be a separate interpreter that cannot see Debian's python3-* packages.
for py in /usr/bin/python3 "$(command -v python3 2>/dev/null)"; do
  [ -n "$py" ] && [ -x "$py" ] && "$py" -c 'import matplotlib' 2>/dev/null && { echo "$py"; exit 0; }
done
exit 1
