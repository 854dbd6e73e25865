# Shared by launch/ray/*.sh (sourced, not run).
# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables below are used by the scripts that source this file

RAY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$RAY_DIR/../.." && pwd)
DEFAULT_SERVERS_FILE=$REPO_DIR/launch/servers.txt

say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The `ray` of the client's environment (pip install -e '.[ray]'): $RAY, the repository's .venv, PATH.
# Every machine of a cluster needs the same Ray and Python versions.
ray_command() {
    if [[ -n ${RAY:-} ]]; then printf '%s\n' "$RAY"
    elif [[ -x $REPO_DIR/.venv/bin/ray ]]; then printf '%s\n' "$REPO_DIR/.venv/bin/ray"
    elif command -v ray >/dev/null 2>&1; then command -v ray
    else die "ray is not installed: pip install -e '.[ray]' (in the repository's .venv), or set RAY=/path/to/ray"
    fi
}

# JSON resources and the single EDGECASE_CARLA_HOST of this machine's servers file.
node_resources() { python3 "$RAY_DIR/node_resources.py" --servers-file "$1" --print resources; }
single_carla_host() { python3 "$RAY_DIR/node_resources.py" --servers-file "$1" --print carla-host 2>/dev/null; }
