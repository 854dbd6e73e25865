#!/usr/bin/env bash
# Join this GPU machine to a Ray sweep cluster as a worker node that owns the CARLA servers of
# this machine's servers file (launch/start.sh wrote it): one `carla_server@HOST:PORT` resource
# per server, `carla_server` = their count, and EDGECASE_CARLA_HOST when there is exactly one.
# Arguments after -- go to `ray start` as they are (e.g. --node-ip-address, --num-cpus).
set -euo pipefail
# shellcheck source=launch/ray/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() {
    cat <<'USAGE'
Usage: launch/ray/start_worker.sh HEAD_ADDRESS:PORT [--servers-file FILE] [-- RAY START ARGS...]

  HEAD_ADDRESS:PORT   the head's address, as printed by launch/ray/start_head.sh (e.g. 10.0.0.1:6379)
  --servers-file F    this machine's servers (default launch/servers.txt)
USAGE
}

(($#)) || { usage >&2; exit 2; }
case $1 in -h|--help) usage; exit 0 ;; -*) usage >&2; exit 2 ;; esac
head_address=$1; shift
servers_file=$DEFAULT_SERVERS_FILE extra=()
while (($#)); do
    case $1 in
        --servers-file) servers_file=${2:?--servers-file needs a file}; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
ray=$(ray_command)

[[ -f $servers_file ]] || die "no servers file $servers_file: start this machine's CARLA servers first (launch/start.sh --host <this machine's address>)"
resources=$(node_resources "$servers_file") || exit 1
[[ $resources != '{}' ]] || die "$servers_file lists no server"
carla_host=$(single_carla_host "$servers_file")
if [[ -n $carla_host ]]; then export EDGECASE_CARLA_HOST=$carla_host; fi
EDGECASE_CARLA_SERVERS_FILE=$(cd "$(dirname "$servers_file")" && pwd)/$(basename "$servers_file")
export EDGECASE_CARLA_SERVERS_FILE

# --num-gpus 0: the GPUs belong to the CARLA servers; no Ray task may claim one.
"$ray" start --address "$head_address" --num-gpus 0 --resources "$resources" "${extra[@]}"
say ""
say "Ray worker joined $head_address owning: $resources"
if [[ -n $carla_host ]]; then say "EDGECASE_CARLA_HOST=$carla_host for every task on this node"; fi
