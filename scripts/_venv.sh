# Sourced by scripts/demo and scripts/test: create .venv once and install cwsync (idempotent).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.installed-$(cat "$ROOT/pyproject.toml" | python3 -c 'import hashlib,sys;print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])')"
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtual environment in .venv" >&2
  python3 -m venv "$VENV"
fi
if [ ! -f "$STAMP" ]; then
  echo "==> installing cwsync and its dependencies" >&2
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[dev]" >&2
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi
# The console's browser tests drive Debian's chromium (Playwright downloads no browser here).
if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing chromium (for the console's browser tests)" >&2
  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } || echo "==> could not install chromium" >&2
fi
export PATH="$VENV/bin:$PATH"
# Keep compiled modules (__pycache__/, ignored by git): with PYTHONDONTWRITEBYTECODE=1 in the environment, every
# `python -m cwsync` the tests start compiled all of src/ again (~0.4 s of CPU each).
unset PYTHONDONTWRITEBYTECODE
cd "$ROOT"
