#!/usr/bin/env bash
# Prints the path of the Python to use: with no argument, the newest this project supports (3.13, 3.12, 3.11) that
# runs here; with one (`python3.13`, a path), that one. Looked for on PATH, then among the versions pyenv installed
# (pyenv's shims name every installed version but run only the selected ones: `python3.13` may be a shim that fails).
set -u
runs_as() {  # runs_as CANDIDATE VERSION: the candidate runs and is that version (any version if VERSION is empty)
  local found
  found=$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || return 1
  [ -z "$2" ] || [ "$found" = "$2" ]
}
pyenv_installed() {  # pyenv_installed VERSION: its interpreters, newest first
  ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python"$1" 2>/dev/null | sort -V -r
}
if [ $# -gt 0 ] && [ -n "$1" ]; then
  wanted=$(basename "$1" | sed -n 's/^python\([0-9]*\.[0-9]*\)$/\1/p')
  for candidate in "$1" $( [ -n "$wanted" ] && pyenv_installed "$wanted"); do
    if runs_as "$candidate" "$wanted"; then command -v "$candidate"; exit 0; fi
  done
  echo "error: $1 does not run here (PYTHON=$1)" >&2
  exit 1
fi
for version in 3.13 3.12 3.11; do
  for candidate in "python$version" $(pyenv_installed "$version"); do
    if runs_as "$candidate" "$version"; then command -v "$candidate"; exit 0; fi
  done
done
echo "error: Python 3.13, 3.12 or 3.11 is needed and none runs here. Install one (Debian/Ubuntu: apt-get install" \
     "python3.13 python3.13-venv, or pyenv install 3.13), or name it: make PYTHON=/path/to/python3.13" >&2
exit 1
