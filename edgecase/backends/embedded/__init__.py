"""The embedded backend (the default): numpy kinematics in this process, no simulator needed."""

from edgecase.backends.embedded.backend import EmbeddedBackend

__all__ = ["EmbeddedBackend"]
