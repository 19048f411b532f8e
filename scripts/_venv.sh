# Sourced by scripts/test, scripts/demo and scripts/bench: make sure .venv exists and holds
# the project with the given extras. Re-runs are fast: pip runs only when pyproject.toml is
# newer than the stamp left by the last successful install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CRONPLANE_VENV:-$ROOT/.venv}"
EXTRAS="${1:-test}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "cronplane: creating virtualenv in $VENV" >&2
    "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.cronplane-$EXTRAS.stamp"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ] || ! "$VENV/bin/python" -c "import cronplane" 2>/dev/null; then
    echo "cronplane: installing the project with [$EXTRAS] extras" >&2
    "$VENV/bin/python" -m pip install -q -e "$ROOT[$EXTRAS]" >&2
    touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
