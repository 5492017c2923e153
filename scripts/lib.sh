# shellcheck shell=bash
# Setup shared by scripts/test and scripts/demo: system packages and the .venv.
# Source it; it defines functions and variables and runs nothing by itself.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO_ROOT/.venv"
PYTHON="${PYTHON:-python3}"

section() {
    printf '\n==> %s\n' "$*"
}

# Print the packages among "$@" that dpkg does not report as installed.
missing_system_packages() {
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            printf '%s\n' "$pkg"
        fi
    done
}

# Install the Debian packages "$@" that are missing. Only root can; anyone else
# gets a warning and carries on, since the tests that need them will say so.
ensure_system_packages() {
    [ "$#" -gt 0 ] || return 0
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "not a Debian-like system: make sure these are installed: $*" >&2
        return 0
    fi
    local missing
    mapfile -t missing < <(missing_system_packages "$@")
    [ "${#missing[@]}" -gt 0 ] || return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "warning: missing system packages (run as root to install them): ${missing[*]}" >&2
        return 0
    fi
    section "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# What the editable install depends on: pyproject.toml, which maps the import
# names (seatkeeper, seatkeeper_server) onto the source folders.
install_fingerprint() {
    (cd "$REPO_ROOT" && sha256sum pyproject.toml)
}

# Create .venv if needed and install the project with the extras "$1"
# (e.g. "test,gtk" or "server"), skipping pip when nothing changed since the last
# install of those extras.
ensure_venv() {
    local extras="$1"
    local stamp="$VENV/.seatkeeper-install-${extras//,/+}.sha256"
    if [ ! -x "$VENV/bin/python" ]; then
        if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
            ensure_system_packages python3-venv
        fi
        section "create .venv"
        "$PYTHON" -m venv "$VENV"
    fi
    if [ -f "$stamp" ] && [ "$(install_fingerprint)" = "$(cat "$stamp")" ]; then
        return 0
    fi
    section "pip install -e '.[$extras]'"
    # pip's output is long and mostly noise; keep it, and show it when pip fails.
    local log="$VENV/pip-install.log"
    if ! { "$VENV/bin/python" -m pip install --upgrade pip &&
        "$VENV/bin/python" -m pip install -e "${REPO_ROOT}[${extras}]"; } >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "pip install failed; full output in $log" >&2
        return 1
    fi
    install_fingerprint >"$stamp"
}
