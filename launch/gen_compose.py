#!/usr/bin/env python3
"""Write a docker compose file that runs N CARLA 0.9.16 servers, one GPU each (stdlib only).

Compose has no loops, so the file is generated: one service `carla-I` per server, all in the
compose project `edgecase-carla`, on the host network.

Each server I owns a block of 4 ports starting at P = BASE + 4*I:

    P     RPC: what clients connect to (`EDGECASE_CARLA_HOST=host:P`, `-carla-rpc-port=P`)
    P+1   streaming: sensor data (`-carla-streaming-port`, CARLA's default P+1)
    P+2   secondary: CARLA's multi-GPU listener, opened by every 0.9.16 server
          (`-carla-secondary-port`, CARLA's default P+2), so it cannot be the Traffic Manager's
    P+3   Traffic Manager of the client that drives server P (`client.get_trafficmanager(P+3)`):
          bound on the client's machine, not in the container; reserved so that clients of
          different servers on one machine never collide (CARLA's default 8000 is not used)

    python3 launch/gen_compose.py --servers 4 --gpus 0,1,2,3 --base-port 2000
        writes launch/docker-compose.generated.yml (what launch/start.sh runs)
    python3 launch/gen_compose.py --servers 2 --check
        exits 1 (with a diff) unless launch/docker-compose.yml is exactly what it would write
    python3 launch/gen_compose.py --servers 2 --out launch/docker-compose.yml
        regenerates the checked-in file

The episodes directory is mounted at the same absolute path inside every container
(`$EDGECASE_EPISODES_DIR`), because the CARLA recorder writes `carla_recording.log` on the
server's filesystem at the path the client names (docs/carla.md).
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKED_IN = HERE / "docker-compose.yml"
GENERATED = HERE / "docker-compose.generated.yml"

PROJECT = "edgecase-carla"
IMAGE = "carlasim/carla:0.9.16"
PORTS_PER_SERVER = 4
DEFAULT_BASE_PORT = 2000
QUALITIES = ("Epic", "Low")
# GPU ids as docker and nvidia-smi print them: an index, a UUID (GPU-...), or a MIG id (MIG-...,
# older drivers: MIG-GPU-.../1/0).
GPU_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:./_-]*$")
EPISODES_VAR = "${EDGECASE_EPISODES_DIR:?set EDGECASE_EPISODES_DIR to an absolute host path: launch/start.sh does}"


def q(text: str) -> str:
    """A double-quoted YAML scalar (JSON strings are valid YAML), so nothing is read as a number,
    bool or tag."""
    return json.dumps(text)


def ports(base_port: int, index: int) -> dict[str, int]:
    rpc = base_port + PORTS_PER_SERVER * index
    return {"rpc": rpc, "streaming": rpc + 1, "secondary": rpc + 2, "traffic_manager": rpc + 3}


def command_line(servers: int, gpus: list[str], base_port: int, quality: str, out: str) -> str:
    return (f"python3 launch/gen_compose.py --servers {servers} --gpus {','.join(gpus)} "
            f"--base-port {base_port} --quality {quality} --out {out}")


def service(index: int, gpu: str, base_port: int, quality: str) -> list[str]:
    p = ports(base_port, index)
    probe = f"exec 3<>/dev/tcp/127.0.0.1/{p['rpc']}"   # bash's TCP redirection: the image has no nc or python
    args = ["/bin/bash", "./CarlaUE4.sh", "-RenderOffScreen", "-nosound",
            f"-carla-rpc-port={p['rpc']}", f"-carla-streaming-port={p['streaming']}",
            f"-carla-secondary-port={p['secondary']}", f"-quality-level={quality}"]
    lines = [
        f"  carla-{index}:",
        f"    # GPU {gpu}; ports {p['rpc']} rpc, {p['streaming']} streaming, {p['secondary']} secondary;"
        f" {p['traffic_manager']} is its client's Traffic Manager",
        f"    image: {q('${EDGECASE_CARLA_IMAGE:-' + IMAGE + '}')}",
        "    command:",
        *[f"      - {q(a)}" for a in args],
        "    network_mode: host",
        "    init: true",
        "    restart: unless-stopped",
        "    stop_grace_period: 20s",
        "    environment:",
        "      NVIDIA_DRIVER_CAPABILITIES: \"all\"   # graphics (Vulkan) as well as compute and utility",
        "      TINI_KILL_PROCESS_GROUP: \"1\"       # docker stop reaches CarlaUE4-Linux-Shipping, not only the script",
        "    volumes:",
        "      - type: bind",
        f"        source: {q(EPISODES_VAR)}",
        f"        target: {q(EPISODES_VAR)}",
        "    labels:",
        f"      org.edgecase.server-index: {q(str(index))}",
        f"      org.edgecase.gpu: {q(gpu)}",
        f"      org.edgecase.rpc-port: {q(str(p['rpc']))}",
        f"      org.edgecase.traffic-manager-port: {q(str(p['traffic_manager']))}",
        "    healthcheck:",
        f"      test: [\"CMD\", \"bash\", \"-c\", {q(probe)}]",
        "      interval: 10s",
        "      timeout: 5s",
        "      retries: 6",
        "      start_period: 120s",
        "    logging:",
        "      driver: json-file",
        "      options:",
        "        max-size: \"50m\"",
        "        max-file: \"3\"",
        "    deploy:",
        "      resources:",
        "        reservations:",
        "          devices:",
        "            - driver: nvidia",
        f"              device_ids: [{q(gpu)}]",
        "              capabilities: [\"gpu\"]",
    ]
    return lines


def render(servers: int, gpus: list[str], base_port: int, quality: str, out_name: str) -> str:
    last = ports(base_port, servers - 1)["traffic_manager"]
    head = [
        "# GENERATED by launch/gen_compose.py: do not edit, regenerate with",
        f"#   {command_line(servers, gpus, base_port, quality, out_name)}",
        f"# {servers} CARLA 0.9.16 server(s), one GPU each, on the host network, ports {base_port}-{last}.",
        "# Each server I owns 4 ports from P = base + 4*I: P rpc, P+1 streaming, P+2 secondary (CARLA's",
        "# multi-GPU listener), P+3 the Traffic Manager of the client that drives it (on the client's machine).",
        "# Needs EDGECASE_EPISODES_DIR, an absolute host path mounted at the same path inside (the CARLA",
        "# recorder writes there). Start with launch/start.sh; by hand:",
        f"#   EDGECASE_EPISODES_DIR=$PWD/out docker compose -f {out_name} up -d",
        f"name: {PROJECT}",
        "",
        "services:",
    ]
    body: list[str] = []
    for index, gpu in enumerate(gpus):
        if index:
            body.append("")
        body.extend(service(index, gpu, base_port, quality))
    return "\n".join(head + body) + "\n"


def parse_gpus(text: str | None, servers: int | None) -> list[str]:
    if text is None:
        return [str(i) for i in range(servers or 1)]
    gpus = [g.strip() for g in text.split(",") if g.strip()]
    if not gpus:
        raise ValueError("--gpus: no GPU id given (e.g. --gpus 0,1)")
    for g in gpus:
        if not GPU_ID.match(g):
            raise ValueError(f"--gpus: {g!r} is not a GPU id (an index such as 0, or a GPU-/MIG- UUID)")
    if servers is not None and len(gpus) != servers:
        raise ValueError(f"--gpus names {len(gpus)} GPU(s) for {servers} server(s): give one per server "
                         f"(repeat an id, e.g. 0,0,1,1, to put two servers on one GPU)")
    return gpus


def display_path(path: Path) -> str:
    """The path as written in the header: relative to the repository when inside it, so the
    checked-in file does not depend on where the checkout lives."""
    try:
        return str(path.resolve().relative_to(HERE.parent))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", type=int, help="number of CARLA servers (default: one per --gpus entry, else 1)")
    ap.add_argument("--gpus", help="comma-separated GPU ids, one per server (default 0,1,...,N-1)")
    ap.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT,
                    help=f"RPC port of server 0; server I uses base+{PORTS_PER_SERVER}*I .. +{PORTS_PER_SERVER - 1} "
                         f"(default {DEFAULT_BASE_PORT})")
    ap.add_argument("--quality", choices=QUALITIES, default="Epic",
                    help="CARLA -quality-level: Epic (default, photoreal) or Low (less GPU memory, faster)")
    ap.add_argument("--out", type=Path,
                    help=f"file to write (default {display_path(GENERATED)}; with --check: {display_path(CHECKED_IN)})")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 with a diff unless the --out file is exactly what would be written")
    args = ap.parse_args(argv)

    if args.servers is not None and not 1 <= args.servers <= 64:
        ap.error(f"--servers must be 1..64, not {args.servers}")
    try:
        gpus = parse_gpus(args.gpus, args.servers)
    except ValueError as err:
        ap.error(str(err))
    servers = len(gpus)
    top = args.base_port + PORTS_PER_SERVER * servers - 1
    if not 1024 <= args.base_port or top > 65535:
        ap.error(f"ports {args.base_port}-{top} must lie within 1024-65535")

    out: Path = args.out or (CHECKED_IN if args.check else GENERATED)
    text = render(servers, gpus, args.base_port, args.quality, display_path(out))

    if args.check:
        try:
            current = out.read_text()
        except OSError as err:
            print(f"gen_compose: cannot read {out}: {err.strerror}", file=sys.stderr)
            return 1
        if current == text:
            print(f"gen_compose: {display_path(out)} is up to date")
            return 0
        sys.stdout.writelines(difflib.unified_diff(
            current.splitlines(keepends=True), text.splitlines(keepends=True),
            fromfile=f"{display_path(out)} (on disk)", tofile=f"{display_path(out)} (generated)"))
        print(f"gen_compose: {display_path(out)} differs from the generated file; regenerate with\n"
              f"  {command_line(servers, gpus, args.base_port, args.quality, display_path(out))}",
              file=sys.stderr)
        return 1

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(out)
    print(f"gen_compose: wrote {display_path(out)} ({servers} server(s), ports {args.base_port}-{top})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
