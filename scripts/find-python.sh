#!/usr/bin/env bash
# Prints the newest Python this project supports (3.13, 3.12, 3.11) that runs on this machine: `pythonX.Y` on PATH,
# else one that pyenv installed (pyenv's shims name every installed version but run only the selected ones).
set -u
for version in 3.13 3.12 3.11; do
  for candidate in "python$version" \
      $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version" 2>/dev/null | sort -V -r); do
    found=$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
    if [ "$found" = "$version" ]; then
      command -v "$candidate"
      exit 0
    fi
  done
done
echo "error: Python 3.13, 3.12 or 3.11 is needed and none runs here. Install one (Debian/Ubuntu: apt-get install" \
     "python3.13 python3.13-venv, or pyenv install 3.13), or name it: make PYTHON=/path/to/python3.13" >&2
exit 1
