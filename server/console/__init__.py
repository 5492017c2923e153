"""The administrator's console under /admin: accounts, licenses, seats, the audit trail, usage."""

from fastapi import APIRouter
from seatkeeper_server.console import accounts, audit, licenses, signin
from seatkeeper_server.console.common import bad_form_page

router = APIRouter()
for part in (signin, accounts, licenses, audit):
    router.include_router(part.router, prefix="/admin", include_in_schema=False)

__all__ = ["bad_form_page", "router"]
