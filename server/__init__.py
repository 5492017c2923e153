"""The Seatkeeper reference license server: protocol v1 over HTTP/JSON."""

__version__ = "0.1.0"
