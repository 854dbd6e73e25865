#!/usr/bin/env bash
# One line per CARLA server of launch/: container state, health, restarts, GPU, ports, and
# whether its RPC port answers from here. --rpc also asks each server for its version and map
# through the CARLA client. Exit 0 when every server is running and healthy, 1 otherwise.
set -euo pipefail
# shellcheck source=launch/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

rpc=0
case ${1:-} in
    "") ;;
    --rpc) rpc=1 ;;
    -h|--help) say "Usage: launch/status.sh [--rpc]   (--rpc: version and map of each server, through the CARLA client)"; exit 0 ;;
    *) say "Usage: launch/status.sh [--rpc]" >&2; exit 2 ;;
esac

need_docker
mapfile -t cids < <(docker ps -a -q --filter "label=com.docker.compose.project=$PROJECT")
if ((${#cids[@]} == 0)); then
    say "no CARLA server of project $PROJECT (start them with launch/start.sh)"
    exit 1
fi

fmt='{{index .Config.Labels "org.edgecase.server-index"}} {{index .Config.Labels "org.edgecase.gpu"}} {{index .Config.Labels "org.edgecase.rpc-port"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.RestartCount}} {{.Name}}'
bad=0
printf '%-9s %-6s %-6s %-11s %-10s %-8s %s\n' server gpu rpc state health restarts "rpc port from here"
while read -r index gpu port status health restarts name; do
    reach=closed
    tcp_open 127.0.0.1 "$port" && reach=open
    printf '%-9s %-6s %-6s %-11s %-10s %-8s %s\n' "carla-$index" "$gpu" "$port" "$status" "$health" "$restarts" "$reach"
    [[ $status == running && $health == healthy && $reach == open ]] || bad=1
    [[ $status == running ]] || say "  ${name#/}: docker logs --tail 40 ${name#/}"
done < <(docker inspect -f "$fmt" "${cids[@]}" | sort -n)

if [[ -f $SERVERS_FILE ]]; then
    say "servers file ${SERVERS_FILE#"$REPO_DIR"/}: $(paste -sd' ' "$SERVERS_FILE")"
else
    say "no servers file (launch/start.sh writes ${SERVERS_FILE#"$REPO_DIR"/} once the servers are healthy)"
fi
[[ -f $ENV_FILE ]] && say "episodes directory: $(sed -n "s/^EDGECASE_EPISODES_DIR='\(.*\)'$/\1/p" "$ENV_FILE")"

if command -v nvidia-smi >/dev/null 2>&1; then
    say "GPUs (index, name, memory used / total, utilisation):"
    nvidia-smi --query-gpu=index,name,memory.used,memory.total,utilization.gpu --format=csv,noheader | sed 's/^/  /'
fi

if ((rpc)); then
    python=$(client_python)
    "$python" -c 'import carla' >/dev/null 2>&1 || die "no CARLA client in $python (pip install -e .)"
    if [[ -f $SERVERS_FILE ]]; then
        mapfile -t targets < "$SERVERS_FILE"
    else
        mapfile -t targets < <(docker inspect -f '{{index .Config.Labels "org.edgecase.rpc-port"}}' "${cids[@]}" | sort -n | sed 's/^/localhost:/')
    fi
    for target in "${targets[@]}"; do
        carla_handshake "$python" "${target%:*}" "${target##*:}" 20 || bad=1
    done
fi
exit "$bad"
