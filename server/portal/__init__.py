"""The web portal under /portal: sign in, licenses, devices, and device-login approval."""

from seatkeeper_server.portal.routes import BadForm, bad_form_page, router

__all__ = ["BadForm", "bad_form_page", "router"]
