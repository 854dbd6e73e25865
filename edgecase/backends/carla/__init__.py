"""The CARLA 0.9.16 bridge: the same frames and labels as the embedded backend, from a CARLA server.

`CarlaBackend` fills in the Backend protocol (backend.py); `convert` turns CARLA's transforms and
sensor buffers into edgecase's frames; `connection` finds the carla module and the server;
`doctor.diagnose` checks a server for `edgecase doctor`. Nothing here imports carla at import time.
"""

from edgecase.backends.carla.backend import CarlaBackend
from edgecase.backends.carla.connection import (HOST_ENV, Address, carla_module, resolve_address,
                                                use_carla_module)

__all__ = ["HOST_ENV", "Address", "CarlaBackend", "carla_module", "resolve_address", "use_carla_module"]
