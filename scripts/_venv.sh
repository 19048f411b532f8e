# Sourced by scripts/test, scripts/demo and scripts/bench: make sure .venv exists and holds
# the project with the given extras. Re-runs are fast: pip runs only when pyproject.toml is
# newer than the stamp left by the last successful install.
# PYTHON picks the interpreter that creates .venv (default: the first of python3, python3.13,
# python3.12, python3.11 that is 3.11 or newer); CRONPLANE_VENV uses another virtualenv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CRONPLANE_VENV:-$ROOT/.venv}"
EXTRAS="${1:-test}"

_cronplane_python_ok() {
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

if [ ! -x "$VENV/bin/python" ]; then
    if [ -n "${PYTHON:-}" ]; then
        PY="$PYTHON"
        if ! _cronplane_python_ok "$PY"; then
            echo "cronplane: PYTHON=$PY is not Python 3.11 or newer ($("$PY" --version 2>&1 || echo 'not found'))" >&2
            exit 1
        fi
    else
        PY=""
        for candidate in python3 python3.13 python3.12 python3.11; do
            if command -v "$candidate" >/dev/null 2>&1 && _cronplane_python_ok "$candidate"; then
                PY="$candidate"
                break
            fi
        done
        if [ -z "$PY" ]; then
            echo "cronplane: needs Python 3.11 or newer; found $(python3 --version 2>&1 || echo 'no python3')." >&2
            echo "  Install one (python.org, your package manager, pyenv), or point PYTHON at it: PYTHON=/path/to/python3.12 $0" >&2
            exit 1
        fi
    fi
    echo "cronplane: creating virtualenv in $VENV ($("$PY" --version 2>&1))" >&2
    VENV_EXISTED=0
    [ -e "$VENV" ] && VENV_EXISTED=1
    if ! "$PY" -m venv "$VENV"; then
        # A half-made venv would be taken for a finished one next time; never remove a folder
        # that was there before (CRONPLANE_VENV may point anywhere).
        [ "$VENV_EXISTED" = 1 ] || rm -rf "$VENV"
        echo "cronplane: could not create the virtualenv; on Debian/Ubuntu install python3-venv first" >&2
        exit 1
    fi
fi
STAMP="$VENV/.cronplane-$EXTRAS.stamp"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ] || ! "$VENV/bin/python" -c "import cronplane" 2>/dev/null; then
    echo "cronplane: installing the project with [$EXTRAS] extras (first run only: about a minute)" >&2
    "$VENV/bin/python" -m pip install -q -e "$ROOT[$EXTRAS]" >&2
    touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
