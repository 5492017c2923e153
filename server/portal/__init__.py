"""The web portal under /portal: sign in, licenses, devices, and device-login approval."""

from seatkeeper_server.portal.routes import router

__all__ = ["router"]
