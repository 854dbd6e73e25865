#!/usr/bin/env bash
# Stop Ray on this machine (head or worker). The CARLA servers keep running: launch/stop.sh stops them.
set -euo pipefail
# shellcheck source=launch/ray/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
case ${1:-} in
    "") ;;
    -h|--help) say "Usage: launch/ray/stop.sh"; exit 0 ;;
    *) say "Usage: launch/ray/stop.sh" >&2; exit 2 ;;
esac
"$(ray_command)" stop
