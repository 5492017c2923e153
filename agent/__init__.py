"""Seatkeeper's tray agent: keeps a license seat in step with the person using it."""

__version__ = "0.1.0"
