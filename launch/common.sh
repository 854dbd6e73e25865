# Shared by launch/start.sh, stop.sh and status.sh (sourced, not run).
# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables below are used by the scripts that source this file

LAUNCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$LAUNCH_DIR")
PROJECT=edgecase-carla                                   # the compose project of every server
GENERATED_FILE=$LAUNCH_DIR/docker-compose.generated.yml  # what start.sh runs
CHECKED_IN_FILE=$LAUNCH_DIR/docker-compose.yml
ENV_FILE=$LAUNCH_DIR/.env                                # EDGECASE_EPISODES_DIR etc., written by start.sh
SERVERS_FILE=$LAUNCH_DIR/servers.txt                     # host:port per line, for the sweep engine
DEFAULT_IMAGE=carlasim/carla:0.9.16
PORTS_PER_SERVER=4                                       # rpc, streaming, secondary, traffic manager

say() { printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The compose file of the running set: the generated one if start.sh wrote it, else the checked-in one.
compose_file() {
    if [[ -f $GENERATED_FILE ]]; then printf '%s\n' "$GENERATED_FILE"; else printf '%s\n' "$CHECKED_IN_FILE"; fi
}

# docker compose v2 on our project. Compose interpolates the whole file for every command, so
# EDGECASE_EPISODES_DIR must have some value even for `ps` and `down`: .env has the real one.
compose() {
    local args=(-p "$PROJECT" -f "$(compose_file)")
    if [[ -f $ENV_FILE ]]; then
        args+=(--env-file "$ENV_FILE")
    else
        export EDGECASE_EPISODES_DIR=${EDGECASE_EPISODES_DIR:-/nonexistent}
    fi
    docker compose "${args[@]}" "$@"
}

need_docker() {
    command -v docker >/dev/null 2>&1 \
        || die "docker is not installed (docs/carla.md, step 2)"
    docker info >/dev/null 2>&1 \
        || die "cannot talk to the docker daemon: is it running (sudo systemctl start docker), and are you in the docker group (sudo usermod -aG docker \$USER, then log in again)?"
    docker compose version >/dev/null 2>&1 \
        || die "docker compose v2 is missing: sudo apt-get install docker-compose-plugin (docs/carla.md, step 2)"
}

# The client's python: the repository's .venv (make demo / pip install -e .) unless $PYTHON says otherwise.
client_python() {
    if [[ -n ${PYTHON:-} ]]; then printf '%s\n' "$PYTHON"
    elif [[ -x $REPO_DIR/.venv/bin/python ]]; then printf '%s\n' "$REPO_DIR/.venv/bin/python"
    else printf '%s\n' python3
    fi
}

# Is something listening on this TCP port of this machine? (ss if present, else a connect.)
port_in_use() {
    local port=$1
    if command -v ss >/dev/null 2>&1; then
        [[ -n $(ss -Htln "sport = :$port" 2>/dev/null) ]]
    else
        timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
    fi
}

# Can a TCP connection to host:port be opened within 3 s?
tcp_open() {
    timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# Ask one server for its version and map through the CARLA client (needs `import carla`, the
# 0.9.16 wheel that `pip install -e .` brings). Prints one line; exit 1 when unreachable.
carla_handshake() {
    local python=$1 host=$2 port=$3 timeout_s=${4:-20}
    "$python" - "$host" "$port" "$timeout_s" <<'PY'
import sys
import carla

host, port, timeout_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
client = carla.Client(host, port)
client.set_timeout(timeout_s)
try:
    server = client.get_server_version()
    world_map = client.get_world().get_map().name
except RuntimeError as err:
    print(f"{host}:{port}: no answer ({err})")
    sys.exit(1)
client_version = client.get_client_version()
note = "" if server == client_version else f"  VERSION MISMATCH: client {client_version}, install carla=={server} or run a {client_version} server"
print(f"{host}:{port}: CARLA {server}, map {world_map}{note}")
sys.exit(0 if server == client_version else 3)
PY
}

# Known causes in a server's log, as hints (docs/carla.md, "Troubleshooting").
diagnose_log() {
    local log=$1
    if grep -q 'Address already in use' <<<"$log"; then
        say "  -> a port of its block is taken: pick another --base-port, or stop what holds it (ss -ltnp)"
    fi
    if grep -Eq 'OUT_OF_DEVICE_MEMORY|Out of video memory|Out of Device Memory|Failed to allocate Device Memory' <<<"$log"; then
        say "  -> out of GPU memory: one server per GPU, --quality Low, fewer or smaller cameras (nvidia-smi shows who uses it)"
    fi
    if grep -Eqi 'vulkan|VK_ERROR|ICD' <<<"$log"; then
        say "  -> Vulkan could not start: check the NVIDIA driver's Vulkan ICD (docs/carla.md, Troubleshooting)"
    fi
    if grep -Eq 'could not select device driver|unknown device|nvidia-container-cli' <<<"$log"; then
        say "  -> the NVIDIA container toolkit is missing or the GPU id is wrong (docs/carla.md, step 3)"
    fi
}
