#!/usr/bin/env bash
# Prints the path of a Python 3.13 interpreter (the Lambda runtime's version):
# python3.13 on PATH first, then pyenv's, then pyenv's default root.
set -euo pipefail
candidates=()
command -v python3.13 >/dev/null 2>&1 && candidates+=("$(command -v python3.13)")
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$' | sort -rV); do
    candidates+=("$(pyenv prefix "$v")/bin/python3.13")
  done
fi
for d in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin; do candidates+=("$d/python3.13"); done
for py in "${candidates[@]}"; do
  if [ -x "$py" ] && "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
    echo "$py"
    exit 0
  fi
done
echo "error: Python 3.13 (the Lambda runtime's version) was not found on PATH or under pyenv." >&2
echo "       Install it (e.g. 'pyenv install 3.13') or put python3.13 on PATH, then run 'make install' again." >&2
exit 1
