#!/usr/bin/env python3
"""The Ray resources of one machine's CARLA servers, from its servers file (stdlib only).

launch/start.sh writes launch/servers.txt on each GPU machine: one `host:port` (RPC port) per
server it started. The Ray node on that machine advertises

    carla_server            N   how many servers the node owns: one episode at a time each
    carla_server@HOST:PORT  1   one per server: exactly one holder at a time, so never shared

The sweep engine runs one Ray actor per server, asking for {"carla_server": 1,
"carla_server@HOST:PORT": 1} and setting EDGECASE_CARLA_HOST=HOST:PORT in the actor's
runtime_env; Ray places it on the node that owns that server and never gives the server to a
second actor (docs/carla.md, "Many servers: Ray").

    node_resources.py --print resources     JSON for `ray start --resources`
    node_resources.py --print carla-host    HOST:PORT when the file has exactly one server, else nothing
    node_resources.py --print servers       the servers, one per line, checked
"""
from __future__ import annotations

import argparse
import json
import re
import socket
import sys
from pathlib import Path

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "servers.txt"
TOTAL = "carla_server"
LINE = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>[0-9]{1,5})$")


def server_resource(host: str, port: int) -> str:
    """The custom resource that stands for one server: `carla_server@HOST:PORT`."""
    return f"{TOTAL}@{host}:{port}"


def read_servers(path: Path) -> list[tuple[str, int]]:
    """`host:port` lines; blank lines and `#` comments are skipped; duplicates and malformed
    lines are errors naming the line."""
    servers: list[tuple[str, int]] = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = LINE.match(line)
        if not m or not 1 <= int(m["port"]) <= 65535:
            raise ValueError(f"{path}:{number}: expected host:port (e.g. 10.0.0.5:2000), got {raw.strip()!r}")
        server = (m["host"], int(m["port"]))
        if server in servers:
            raise ValueError(f"{path}:{number}: {line} is listed twice: a server belongs to one worker")
        servers.append(server)
    return servers


def is_local(host: str) -> bool:
    """Does `host` name this machine? True when every address it resolves to can be bound here."""
    name = host.strip("[]")
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return False
    for family, _, _, _, sockaddr in infos:
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.bind((sockaddr[0], 0))
        except OSError:
            return False
    return bool(infos)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--servers-file", type=Path, default=DEFAULT_FILE,
                    help="host:port per line (default: launch/servers.txt, written by launch/start.sh)")
    ap.add_argument("--print", dest="what", choices=("resources", "carla-host", "servers"), default="resources")
    args = ap.parse_args(argv)
    try:
        servers = read_servers(args.servers_file)
    except OSError as err:
        print(f"node_resources: cannot read {args.servers_file}: {err.strerror} (run launch/start.sh first)",
              file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"node_resources: {err}", file=sys.stderr)
        return 2
    for host, port in servers:
        if not is_local(host):
            print(f"node_resources: warning: {host}:{port} is not an address of this machine; a worker should "
                  f"own only the servers that run beside it (the CARLA recorder writes on the server's disk)",
                  file=sys.stderr)

    if args.what == "resources":
        resources = {TOTAL: len(servers)} if servers else {}
        resources.update({server_resource(h, p): 1 for h, p in servers})
        print(json.dumps(resources))
    elif args.what == "carla-host":
        if len(servers) == 1:
            print(f"{servers[0][0]}:{servers[0][1]}")
    else:
        for host, port in servers:
            print(f"{host}:{port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
