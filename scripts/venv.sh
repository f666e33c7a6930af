# Sourced by scripts/demo and scripts/test: the project-local virtual environment ./.venv.
#
# A project-local virtual environment works the same with a distribution's Python (PEP 668
# forbids `pip install` into it), pyenv, or anything else >= 3.11: $PYTHON, else python3,
# creates it; later runs reuse it and reinstall only when pyproject.toml changed.
#   venv_prerequisites       Python >= 3.11 with venv/ensurepip (apt-get python3-venv as root)
#   venv_install [EXTRAS]    create .venv when missing, install the package (with "[dev]"...)
#                            when pyproject.toml changed; sets VENV_BIN

_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_venv="$_root/.venv"
_python="${PYTHON:-python3}"

_say() { printf '%s\n' "$*" >&2; }

_venv_works() { [ -x "$_venv/bin/python" ] && "$_venv/bin/python" -c '' 2>/dev/null; }

venv_prerequisites() {
    _venv_works && return 0
    if ! command -v "$_python" >/dev/null 2>&1; then
        _say "error: $_python not found; install Python >= 3.11 (Debian/Ubuntu: apt-get install python3 python3-venv)"
        exit 1
    fi
    if ! "$_python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        _say "error: $("$_python" -c 'import sys; print(sys.executable, sys.version.split()[0])') is too old; tracker-bridge needs Python >= 3.11 (set PYTHON=/path/to/python3.11)"
        exit 1
    fi
    # Debian/Ubuntu ship venv's pip bootstrap (ensurepip) in a separate package.
    "$_python" -c 'import ensurepip, venv' 2>/dev/null && return 0
    local pkg="python3-venv"
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        _say "error: $_python has no venv/ensurepip module; install it (Debian/Ubuntu: sudo apt-get install $pkg) and run this again"
        exit 1
    fi
    _say "setup: installing $pkg (Python's venv module) with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null; }
}

venv_install() {
    local extras="${1:-}"
    if ! _venv_works; then
        venv_prerequisites
        _say "setup: creating $_venv with $("$_python" -c 'import sys; print(sys.executable)')"
        rm -rf "$_venv"
        "$_python" -m venv "$_venv"
    fi
    # Reinstall only when what we would install changed (pyproject.toml, per extras).
    local stamp="$_venv/.installed${extras:-[base]}" want
    want="$(cksum <"$_root/pyproject.toml")"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        _say "setup: installing tracker-bridge$extras into .venv (first run: a minute or two)"
        # --no-compile: Python writes the .pyc of what it imports on first use; compiling every
        # module of numpy, scipy and matplotlib up front took a third of the install.
        "$_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile \
            -e "$_root$extras"
        printf '%s' "$want" >"$stamp"
    fi
    VENV_BIN="$_venv/bin"
}
