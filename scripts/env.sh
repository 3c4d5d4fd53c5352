# Sourced by scripts/run and scripts/test: makes .venv match uv.lock, installing uv first.
# Nothing here assumes anything is already installed beyond python3.11 (with venv) itself.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV_VERSION="0.13.8"
TOOLS="$ROOT/.tools"
PY="${IONTO_PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x "$TOOLS/bin/uv" ] || [ "$("$TOOLS/bin/uv" --version | awk '{print $2}')" != "$UV_VERSION" ]; then
  echo "ionto: installing uv $UV_VERSION into .tools/" >&2
  "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install --quiet "uv==$UV_VERSION"
fi
export UV_PYTHON_DOWNLOADS=never UV_PYTHON="$PY" UV_PROJECT_ENVIRONMENT="$ROOT/.venv"
"$TOOLS/bin/uv" sync --locked --quiet
export PATH="$ROOT/.venv/bin:$PATH"
