# Sourced by scripts/demo and scripts/test: make sure ./.venv exists and has the package
# (with the extras named in $1, e.g. "[dev]") installed, then set $VENV_BIN.
#
# A project-local virtual environment works the same with a distribution's Python (PEP 668
# forbids `pip install` into it), pyenv, or anything else >= 3.11: $PYTHON, else python3,
# creates it; later runs reuse it and reinstall only when pyproject.toml changed.

_extras="${1:-}"
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_venv="$_root/.venv"
_python="${PYTHON:-python3}"

_say() { printf '%s\n' "$*" >&2; }

if ! command -v "$_python" >/dev/null 2>&1; then
    _say "error: $_python not found; install Python >= 3.11 (Debian/Ubuntu: apt-get install python3 python3-venv)"
    exit 1
fi
if ! "$_python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    _say "error: $("$_python" -c 'import sys; print(sys.executable, sys.version.split()[0])') is too old; tracker-bridge needs Python >= 3.11 (set PYTHON=/path/to/python3.11)"
    exit 1
fi

if [ ! -x "$_venv/bin/python" ] || ! "$_venv/bin/python" -c '' 2>/dev/null; then
    # Debian/Ubuntu ship venv's pip bootstrap (ensurepip) in a separate package.
    if ! "$_python" -c 'import ensurepip, venv' 2>/dev/null; then
        _pkg="python3-venv"
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            _say "setup: installing $_pkg (Python's venv module) with apt-get"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$_pkg" >/dev/null \
                || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
                     apt-get install -y -qq --no-install-recommends "$_pkg" >/dev/null; }
        else
            _say "error: $_python has no venv/ensurepip module; install it (Debian/Ubuntu: sudo apt-get install $_pkg) and run this again"
            exit 1
        fi
    fi
    _say "setup: creating $_venv with $("$_python" -c 'import sys; print(sys.executable)')"
    rm -rf "$_venv"
    "$_python" -m venv "$_venv"
fi

# Reinstall only when what we would install changed (pyproject.toml, the extras).
_stamp="$_venv/.installed${_extras:-[base]}"
_want="$(cksum <"$_root/pyproject.toml")"
if [ ! -f "$_stamp" ] || [ "$(cat "$_stamp")" != "$_want" ]; then
    _say "setup: installing tracker-bridge$_extras into .venv (first run: a minute or two)"
    # --no-compile: Python writes the .pyc of what it imports on first use; compiling every
    # module of numpy, scipy and matplotlib up front took a third of the install.
    "$_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile \
        -e "$_root$_extras"
    printf '%s' "$_want" >"$_stamp"
fi
VENV_BIN="$_venv/bin"
