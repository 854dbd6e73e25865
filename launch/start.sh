#!/usr/bin/env bash
# Start N CARLA 0.9.16 servers in docker, one GPU each, wait until each accepts connections, and
# write launch/servers.txt (host:port per line) for the sweep engine. Safe to run again: it
# regenerates the compose file and lets docker compose change only what changed.
set -euo pipefail
# shellcheck source=launch/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    cat <<'EOF'
Usage: launch/start.sh [options]

  --servers N          number of servers (default: one per --gpus entry, else one per GPU that
                       nvidia-smi lists)
  --gpus 0,1,...       GPU ids, one per server (default 0..N-1; repeat an id to share a GPU)
  --base-port P        RPC port of server 0 (default 2000); server I owns P+4I .. P+4I+3:
                       rpc, streaming, secondary, and its client's Traffic Manager
  --host ADDR          address written to launch/servers.txt (default localhost; on a Ray cluster
                       this machine's address that the other machines reach)
  --episodes DIR       episodes directory, mounted at the same absolute path in every container:
                       run `edgecase run ... --out` inside it (default: <repo>/out)
  --quality Epic|Low   CARLA -quality-level (default Epic; Low needs less GPU memory)
  --timeout S          seconds to wait until every server is healthy (default 300)
  --no-wait            start and return at once (check later with launch/status.sh)
  -h, --help           this text

Environment: EDGECASE_CARLA_IMAGE (default carlasim/carla:0.9.16); PYTHON, the client's python
for the version check (default: the repository's .venv).
EOF
}

servers="" gpus="" base_port=2000 host=localhost episodes="$REPO_DIR/out" quality=Epic timeout_s=300 wait=1
while (($#)); do
    case $1 in
        --servers) servers=${2:?--servers needs a number}; shift 2 ;;
        --gpus) gpus=${2:?--gpus needs a list such as 0,1}; shift 2 ;;
        --base-port) base_port=${2:?--base-port needs a port}; shift 2 ;;
        --host) host=${2:?--host needs an address}; shift 2 ;;
        --episodes) episodes=${2:?--episodes needs a directory}; shift 2 ;;
        --quality) quality=${2:?--quality needs Epic or Low}; shift 2 ;;
        --timeout) timeout_s=${2:?--timeout needs seconds}; shift 2 ;;
        --no-wait) wait=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[[ $servers =~ ^[0-9]*$ && $base_port =~ ^[0-9]+$ && $timeout_s =~ ^[0-9]+$ ]] \
    || die "--servers, --base-port and --timeout take whole numbers"
[[ $host =~ ^[A-Za-z0-9._:-]+$ ]] || die "--host: '$host' is not a host name or address"

need_docker
image=${EDGECASE_CARLA_IMAGE:-$DEFAULT_IMAGE}

# -- GPUs: one per server ------------------------------------------------------------------------
if [[ -z $gpus ]]; then
    if [[ -n $servers ]]; then
        gpus=$(seq -s, 0 $((servers - 1)))
    else
        command -v nvidia-smi >/dev/null 2>&1 \
            || die "nvidia-smi not found: install the NVIDIA driver (docs/carla.md, step 1), or name the GPUs with --gpus"
        gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader | paste -sd, -)
        [[ -n $gpus ]] || die "nvidia-smi lists no GPU"
    fi
fi
IFS=, read -r -a gpu_list <<<"$gpus"
servers=${servers:-${#gpu_list[@]}}
((servers >= 1)) || die "--servers must be at least 1"
((${#gpu_list[@]} == servers)) \
    || die "--gpus names ${#gpu_list[@]} GPU(s) for $servers server(s): give one per server"

# -- the compose file (gen_compose.py checks ids and port ranges) ---------------------------------
python3 "$LAUNCH_DIR/gen_compose.py" --servers "$servers" --gpus "$gpus" --base-port "$base_port" \
    --quality "$quality" --out "$GENERATED_FILE" >/dev/null

# -- the image: ~20 GB, pulled once --------------------------------------------------------------
if ! docker image inspect "$image" >/dev/null 2>&1; then
    say "pulling $image (about 20 GB; once per machine)..."
    docker pull "$image"
fi

# -- GPUs visible inside a container? And the uid the server writes files as. ---------------------
# docker's --gpus takes a list of devices only inside quotes: --gpus '"device=0,1"'.
unique_gpus=$(printf '%s\n' "${gpu_list[@]}" | awk '!seen[$0]++' | paste -sd, -)
if ! probe=$(docker run --rm --gpus "\"device=$unique_gpus\"" -e NVIDIA_DRIVER_CAPABILITIES=all \
        --entrypoint bash "$image" -c 'id -u; nvidia-smi -L' 2>&1); then
    printf '%s\n' "$probe" >&2
    diagnose_log "$probe" >&2
    die "could not start a container on GPU(s) $unique_gpus (docs/carla.md, Troubleshooting)"
fi
carla_uid=$(head -n1 <<<"$probe")
say "GPUs in the container:"
tail -n +2 <<<"$probe" | sed 's/^/  /'
if grep -Eq 'A100|A800|H100|H200|H800|H20|B200|GB200' <<<"$probe"; then
    warn "this is a compute GPU with little or no graphics support: CARLA may fail to render on it (docs/carla.md, 'What the machine needs')"
fi

# -- ports: every block must be free, except blocks of our own servers that already run -----------
ours=$(docker ps --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Label "org.edgecase.rpc-port"}}')
for ((i = 0; i < servers; i++)); do
    rpc=$((base_port + PORTS_PER_SERVER * i))
    grep -qx "$rpc" <<<"$ours" && continue
    for port in "$rpc" $((rpc + 1)) $((rpc + 2)); do
        port_in_use "$port" \
            && die "port $port (server $i's block $rpc-$((rpc + 3))) is in use: free it (ss -ltnp 'sport = :$port') or pick another --base-port"
    done
    port_in_use $((rpc + 3)) \
        && warn "port $((rpc + 3)), the Traffic Manager port of server $i's client, is in use on this machine"
done

# -- the episodes directory: same absolute path outside and inside, writable by the server --------
mkdir -p "$episodes"
episodes_abs=$(cd "$episodes" && pwd -P)   # symlinks resolved: the path the bridge will name
[[ $episodes_abs != *"'"* ]] || die "--episodes: a path with a single quote cannot be passed to compose"
if [[ $(id -u) != "$carla_uid" ]]; then
    # The recorder writes as the image's user (uid $carla_uid) into new episode directories;
    # a default ACL lets it, whoever runs the client. Existing directories get it too.
    if command -v setfacl >/dev/null 2>&1 &&
        find "$episodes_abs" -type d -exec setfacl -m "u:$carla_uid:rwx,d:u:$carla_uid:rwx" {} + 2>/dev/null; then
        say "episodes: $episodes_abs (ACL: uid $carla_uid, the server's user, may write)"
    else
        warn "could not give uid $carla_uid (the server's user) write access to $episodes_abs: the CARLA recorder file will be missing. Install acl (sudo apt-get install acl) and run again, or run the client as uid $carla_uid (docs/carla.md, 'The recorder file and the episodes directory')"
    fi
else
    say "episodes: $episodes_abs"
fi

tmp_env=$(mktemp "$LAUNCH_DIR/.env.XXXXXX")
{
    say "# Written by launch/start.sh; read by docker compose for the files in launch/."
    say "EDGECASE_EPISODES_DIR='$episodes_abs'"
    say "EDGECASE_CARLA_IMAGE='$image'"
} >"$tmp_env"
chmod 644 "$tmp_env"
mv "$tmp_env" "$ENV_FILE"

# -- up ------------------------------------------------------------------------------------------
if ! out=$(compose up -d --remove-orphans 2>&1); then
    printf '%s\n' "$out" >&2
    diagnose_log "$out" >&2
    die "docker compose up failed"
fi

write_servers_file() {
    local tmp
    tmp=$(mktemp "$LAUNCH_DIR/.servers.XXXXXX")
    for ((i = 0; i < servers; i++)); do
        say "$host:$((base_port + PORTS_PER_SERVER * i))"
    done >"$tmp"
    chmod 644 "$tmp"
    mv "$tmp" "$SERVERS_FILE"
}

summary() {
    for ((i = 0; i < servers; i++)); do
        rpc=$((base_port + PORTS_PER_SERVER * i))
        say "  carla-$i  GPU ${gpu_list[$i]}  EDGECASE_CARLA_HOST=$host:$rpc  (Traffic Manager port $((rpc + 3)))"
    done
    say "servers file: ${SERVERS_FILE#"$REPO_DIR"/}"
}

if ((!wait)); then
    write_servers_file
    say "started $servers CARLA server(s), not yet checked (launch/status.sh):"
    summary
    exit 0
fi

# -- wait until healthy (the health check opens the RPC port inside the container) ----------------
say "waiting for $servers server(s) to accept connections (first start of a machine can take minutes)..."
deadline=$((SECONDS + timeout_s))
declare -A restarts0=()
while :; do
    ready=0
    for ((i = 0; i < servers; i++)); do
        cid=$(compose ps -a -q "carla-$i")
        [[ -n $cid ]] || die "service carla-$i has no container (docker compose ps -a)"
        info=$(docker inspect -f \
            '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.RestartCount}}' "$cid") \
            || die "container of carla-$i disappeared (docker compose ps -a)"
        read -r status health restarts <<<"$info"
        restarts0[$i]=${restarts0[$i]:-$restarts}
        if [[ $status == running && $health == healthy ]]; then
            ready=$((ready + 1))
        elif [[ $status =~ ^(exited|dead|restarting)$ || $health == unhealthy || $restarts != "${restarts0[$i]}" ]]; then
            log=$(docker logs --tail 40 "$cid" 2>&1 || true)
            say "carla-$i (GPU ${gpu_list[$i]}) failed: $status, health $health. Its last log lines:" >&2
            printf '%s\n' "$log" | sed 's/^/  | /' >&2
            diagnose_log "$log" >&2
            die "server carla-$i did not start; launch/stop.sh removes them all"
        fi
    done
    ((ready == servers)) && break
    ((SECONDS < deadline)) || die "$ready of $servers server(s) healthy after ${timeout_s}s: launch/status.sh, docker logs <container>; --timeout raises the limit"
    sleep 5
done

write_servers_file
say "ready: $servers CARLA server(s)"
summary

# -- the client's view: version and map through the CARLA python client, when installed -----------
python=$(client_python)
if "$python" -c 'import carla' >/dev/null 2>&1; then
    for ((i = 0; i < servers; i++)); do
        carla_handshake "$python" "$host" $((base_port + PORTS_PER_SERVER * i)) 60 \
            || warn "server carla-$i: see the line above (docs/carla.md, 'Troubleshooting')"
    done
else
    say "(no CARLA client in $python: pip install -e . for the version check; then edgecase doctor --carla-host $host:$base_port)"
fi
