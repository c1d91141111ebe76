# Sourced by scripts/demo and scripts/test: create or reuse .venv and install xmodal into it.
# torch is pinned to the CPU build this machine ships; an unpinned torch would pull several GB of CUDA wheels.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${XMODAL_VENV:-$ROOT/.venv}"
TORCH_SPEC="${XMODAL_TORCH:-torch==2.13.0}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[xmodal] creating virtual environment at $VENV"
  "$PY" -m venv "$VENV"
fi
EXTRA="${1:-base}"; [ "$EXTRA" = base ] && EXTRA=""
SPEC="$ROOT"; [ -n "$EXTRA" ] && SPEC="$ROOT[$EXTRA]"
STAMP="$VENV/.xmodal-installed-${EXTRA:-base}"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  echo "[xmodal] installing dependencies (first run only)"
  "$VENV/bin/python" -m pip install -q "$TORCH_SPEC"
  "$VENV/bin/python" -m pip install -q -e "$SPEC"
  touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
