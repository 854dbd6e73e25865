#!/usr/bin/env bash
# Start the Ray head of a sweep cluster on this machine. If this machine also runs CARLA servers
# (launch/start.sh wrote launch/servers.txt here), the head owns them like a worker does.
# Arguments after -- go to `ray start` as they are (e.g. --node-ip-address, --num-cpus).
set -euo pipefail
# shellcheck source=launch/ray/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    cat <<'USAGE'
Usage: launch/ray/start_head.sh [--port 6379] [--servers-file FILE | --no-servers] [-- RAY START ARGS...]

  --port P            the head's GCS port (default 6379): workers join with HEAD_IP:P
  --servers-file F    this machine's servers (default launch/servers.txt if it exists)
  --no-servers        own no CARLA server even if launch/servers.txt exists
USAGE
}

port=6379 servers_file="" no_servers=0 extra=()
while (($#)); do
    case $1 in
        --port) port=${2:?--port needs a port}; shift 2 ;;
        --servers-file) servers_file=${2:?--servers-file needs a file}; shift 2 ;;
        --no-servers) no_servers=1; shift ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
[[ $port =~ ^[0-9]+$ ]] || die "--port takes a port number"
ray=$(ray_command)

resources='{}'
if ((!no_servers)); then
    if [[ -z $servers_file && -f $DEFAULT_SERVERS_FILE ]]; then servers_file=$DEFAULT_SERVERS_FILE; fi
    if [[ -n $servers_file ]]; then
        resources=$(node_resources "$servers_file") || exit 1
        carla_host=$(single_carla_host "$servers_file")
        if [[ -n $carla_host ]]; then export EDGECASE_CARLA_HOST=$carla_host; fi
        EDGECASE_CARLA_SERVERS_FILE=$(cd "$(dirname "$servers_file")" && pwd)/$(basename "$servers_file")
        export EDGECASE_CARLA_SERVERS_FILE
    fi
fi

# --num-gpus 0: the GPUs belong to the CARLA servers; no Ray task may claim one.
"$ray" start --head --port "$port" --num-gpus 0 --resources "$resources" "${extra[@]}"
say ""
say "Ray head started; this node's CARLA resources: $resources"
say "on each GPU machine:  launch/start.sh --host <that machine's address> && launch/ray/start_worker.sh <this machine's address>:$port"
say "sweep from here:      edgecase sweep ... --engine ray --ray-address <this machine's address>:$port --backend carla --carla-servers FILE"
