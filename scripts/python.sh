#!/usr/bin/env bash
# Prints the path of a Python >= 3.12 (Django 6 needs it). The machine's default python3 may be older,
# and pyenv shims for other versions may exist without working, so each candidate is actually run.
set -u
candidates=("${PYTHON:-}" python3.13 python3.12 python3.14 python3)
for dir in $(ls -d /root/.pyenv/versions/3.1[2-9]* "$HOME"/.pyenv/versions/3.1[2-9]* 2>/dev/null | sort -rV) /usr/local/bin /usr/bin; do
  for name in python3.13 python3.12 python3.14; do
    [ -x "$dir/bin/$name" ] && candidates+=("$dir/bin/$name")
    [ -x "$dir/$name" ] && candidates+=("$dir/$name")
  done
done
for c in "${candidates[@]}"; do
  [ -n "$c" ] || continue
  if "$c" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
    command -v "$c" 2>/dev/null || echo "$c"
    exit 0
  fi
done
echo "No Python 3.12 or newer found; install one (e.g. apt-get install python3.13) or set PYTHON=/path/to/python3.12" >&2
exit 1
