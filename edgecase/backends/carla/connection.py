"""Reaching a CARLA server: which carla module, which address, the version check, errors -> exit 3.

Why a module accessor: every bridge module receives the carla module as a value (`CarlaBackend(...,
carla_module=None)`, or `carla_module()` here) instead of importing it, so tests run the same code
against tests/fake_carla without a server, and the import costs nothing until a run asks for CARLA.
By convention the module is always held in a name or attribute called `carla`, which is what the
conformance test (tests/test_carla_conformance.py) follows through the bridge's source.

Why `carla_errors`: the carla client reports every server problem as a bare RuntimeError ("time-out of
10000ms while waiting for the simulator, make sure the simulator is ready and connected to
HOST:PORT", "rpc::rpc_error ...", a refused spawn). Inside the bridge each one becomes a
`BackendError` (exit 3: the run may succeed if retried) that says what the bridge was doing and where.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from edgecase.errors import BackendError, InputError

HOST_ENV = "EDGECASE_CARLA_HOST"
DEFAULT_PORT = 2000  # CARLA's default RPC port (CarlaUE4.sh -carla-rpc-port)
DEFAULT_TIMEOUT_S = 10.0  # carla.Client's own default is 5 s; loading a town takes longer
HOW_TO_POINT = (f"pass --carla-host HOST[:PORT] or set {HOST_ENV}=HOST[:PORT] "
                f"(a CARLA 0.9.16 server listens on port {DEFAULT_PORT} unless started with -carla-rpc-port)")

_override: ModuleType | Any | None = None


def carla_module() -> Any:
    """The carla module the bridge talks through: the installed 0.9.16 wheel, unless a test set another."""
    if _override is not None:
        return _override
    import carla  # the wheel imports offline; only connecting needs a server

    return carla


def use_carla_module(module: Any | None) -> Any | None:
    """Make `carla_module()` return `module` (None: the real wheel again); returns the previous override.
    For tests and benchmarks that run the bridge on tests/fake_carla."""
    global _override
    previous, _override = _override, module
    return previous


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>\d+))?$")


def resolve_address(host: str | None = None, port: int | None = None,
                    env: Mapping[str, str] | None = None) -> Address:
    """HOST[:PORT] from `host`, else from $EDGECASE_CARLA_HOST; the port from the text, else `port`,
    else 2000. InputError (exit 2) when neither names a server or the text is not HOST[:PORT]."""
    env = os.environ if env is None else env
    text = (host or env.get(HOST_ENV, "")).strip()
    where = "--carla-host" if host else HOST_ENV
    if not text:
        raise InputError("no CARLA server given", hint=HOW_TO_POINT)
    match = _HOST_PORT.match(text)
    if match is None:
        raise InputError(f"{where}: {text!r} is not HOST[:PORT]", hint="e.g. localhost:2000 or 10.0.0.5")
    named = int(match["port"]) if match["port"] else None
    if named is not None and port is not None and named != port:
        raise InputError(f"{where} says port {named} but --carla-port says {port}", hint="give the port once")
    chosen = named if named is not None else port if port is not None else DEFAULT_PORT
    if not 0 < chosen < 65536:
        raise InputError(f"CARLA port {chosen} is outside 1..65535")
    return Address(match["v6"] or match["host"], chosen)


def release(version: str) -> str:
    """The numeric release in a version string ('0.9.16-12-gabc' -> '0.9.16'); the text if none."""
    found = re.search(r"\d+(?:\.\d+)+", version)
    return found.group(0) if found else version


def version_mismatch(client_version: str, server_version: str) -> str | None:
    """A sentence when the client and the server are different releases; None when they match.
    A different build suffix of the same release (0.9.16 vs 0.9.16-dirty) is not a mismatch."""
    if release(client_version) == release(server_version):
        return None
    return (f"carla client {client_version} and server {server_version} differ: the RPC protocol changes "
            f"between releases, so calls fail or misbehave; install carla=={release(server_version)} "
            f"or run a CARLA {release(client_version)} server")


@contextmanager
def carla_errors(action: str, address: Address | None = None, timeout_s: float | None = None) -> Iterator[None]:
    """Turn the carla client's RuntimeErrors inside the block into a BackendError (exit 3) that says
    what we were doing (`action`) and where; a time-out says the server did not answer in time."""
    try:
        yield
    except RuntimeError as err:
        raise backend_error(action, err, address, timeout_s) from err


def backend_error(action: str, err: BaseException, address: Address | None = None,
                  timeout_s: float | None = None) -> BackendError:
    where = f" at {address}" if address else ""
    text = str(err).strip() or type(err).__name__
    if "time-out" in text or "timed out" in text:
        waited = f" within {timeout_s:g} s" if timeout_s else ""
        return BackendError(f"the CARLA server{where} did not answer{waited} while trying to {action} ({text})",
                            hint="a retry may succeed; `edgecase doctor` checks the server")
    return BackendError(f"CARLA{where}: could not {action}: {text}",
                        hint="a retry may succeed; `edgecase doctor` checks the server")


def connect(carla: Any, address: Address, timeout_s: float) -> tuple[Any, str, str]:
    """(client, client version, server version); BackendError when the server does not answer or is
    another release (a mismatch would fail later, somewhere less clear)."""
    client = carla.Client(address.host, address.port)
    client.set_timeout(timeout_s)
    with carla_errors("connect", address, timeout_s):
        server_version = client.get_server_version()
    client_version = client.get_client_version()
    problem = version_mismatch(client_version, server_version)
    if problem is not None:
        raise BackendError(f"CARLA server at {address}: {problem}")
    return client, client_version, server_version
