"""The Seatkeeper reference license server: protocol v1 over HTTP/JSON."""

from seatkeeper import __version__

__all__ = ["__version__"]
