"""`edgecase doctor`: is there a usable CARLA server, and if not, exactly what is wrong.

It reports, in order, and stops at the first problem: the carla client (the Python wheel), the
server's address, whether anything listens there (a plain TCP connect tells "connection refused"
from "no answer" and from an unknown host, which the carla client reports all alike as a time-out),
the server's version against the client's, the loaded map, and the latency of one synchronous tick.
The tick runs only when no other client drives the world (it is asynchronous): the world is put in
synchronous mode for that one tick and its settings are restored right after.

Exit codes follow the CLI's: 0 usable, 2 no server given (usage), 3 the server is unusable.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from edgecase.backends.carla.connection import HOW_TO_POINT, Address, release, resolve_address, version_mismatch
from edgecase.errors import InputError

DOCTOR_STEP_S = 0.05  # the step of the probe tick (the plans' default)


@dataclass
class Diagnosis:
    lines: list[str] = field(default_factory=list)
    exit_code: int = 0

    def fail(self, line: str, code: int = 3) -> Diagnosis:
        self.lines.append(line)
        self.exit_code = code
        return self


def tcp_probe(address: Address, timeout_s: float) -> str | None:
    """None if something accepts a TCP connection there; else why not, in words."""
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout_s):
            return None
    except ConnectionRefusedError:
        return f"connection refused: nothing listens on {address} (is CarlaUE4 running, on that port?)"
    except socket.gaierror as err:
        return f"unknown host {address.host!r} ({err.strerror})"
    except TimeoutError:
        return f"no answer from {address} within {timeout_s:g} s (a firewall, or the wrong host)"
    except OSError as err:
        return f"cannot reach {address}: {err.strerror or err}"


def client_line(carla: Any) -> str:
    try:
        wheel = metadata.version("carla")
    except metadata.PackageNotFoundError:
        wheel = "not installed"
    where = getattr(carla, "__file__", None) or getattr(carla, "__name__", "?")
    return f"client:  carla {wheel} (python module {where})"


def diagnose(carla: Any, host: str | None = None, port: int | None = None, timeout_s: float = 5.0,
             probe: Callable[[Address, float], str | None] | None = None) -> Diagnosis:
    """Check the server at host[:port] (or $EDGECASE_CARLA_HOST) through the module `carla`;
    `probe` explains a server that does not answer (default: a TCP connect)."""
    probe = probe or tcp_probe
    report = Diagnosis([client_line(carla)])
    try:
        address = resolve_address(host, port)
    except InputError as err:
        return report.fail(f"server:  {err.message}: {err.hint or HOW_TO_POINT}", code=2)
    report.lines.append(f"server:  {address}")
    client = carla.Client(address.host, address.port)
    client.set_timeout(timeout_s)
    try:
        server_version = client.get_server_version()
    except RuntimeError as err:
        why = probe(address, timeout_s) or f"something listens there but it is not answering as CARLA does ({err})"
        return report.fail(f"problem: {why}")
    client_version = client.get_client_version()
    problem = version_mismatch(client_version, server_version)
    if problem is not None:
        return report.fail(f"version: server {server_version}, client {client_version}: MISMATCH: {problem}")
    same = "same as the client" if server_version == client_version else f"release {release(server_version)}, as the client"
    report.lines.append(f"version: server {server_version} ({same})")
    try:
        world = client.get_world()
        report.lines.append(f"map:     {world.get_map().name}")
        report.lines.append(f"tick:    {_tick_latency(world, timeout_s)}")
    except RuntimeError as err:
        return report.fail(f"problem: the server stopped answering: {err}")
    report.lines.append("ok: this server can run `edgecase run --backend carla`")
    return report


def _tick_latency(world: Any, timeout_s: float) -> str:
    """One synchronous tick's round trip, or why none was measured."""
    original = world.get_settings()
    if original.synchronous_mode:
        return "not measured: the world is in synchronous mode, so another client is driving it"
    settings = world.get_settings()
    settings.synchronous_mode = True
    settings.fixed_delta_seconds = DOCTOR_STEP_S
    world.apply_settings(settings)
    try:
        world.tick(timeout_s)  # the first tick in synchronous mode can carry the mode switch's work
        started = time.perf_counter()
        world.tick(timeout_s)
        latency_ms = (time.perf_counter() - started) * 1000.0
    finally:
        world.apply_settings(original)
    return f"{latency_ms:.1f} ms for one synchronous step of {DOCTOR_STEP_S:g} s"
