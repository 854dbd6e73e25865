#!/usr/bin/env bash
# Stop and remove every CARLA server that launch/start.sh (or docker compose on the files in
# launch/) started, and remove launch/servers.txt so no sweep picks up a stale list.
# The image, the episodes directory and launch/.env stay.
set -euo pipefail
# shellcheck source=launch/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case ${1:-} in
    "") ;;
    -h|--help) say "Usage: launch/stop.sh    (stops the compose project $PROJECT: every carla-I container)"; exit 0 ;;
    *) say "Usage: launch/stop.sh" >&2; exit 2 ;;
esac

need_docker
rm -f "$SERVERS_FILE"
running=$(docker ps -a -q --filter "label=com.docker.compose.project=$PROJECT" | wc -l)
if ((running == 0)); then
    say "no CARLA server of project $PROJECT is running"
    exit 0
fi
# --remove-orphans: servers of an earlier, larger start.sh go too.
compose down --remove-orphans --timeout 20
say "stopped $running CARLA server container(s); removed ${SERVERS_FILE#"$REPO_DIR"/}"
