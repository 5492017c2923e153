"""Helpers the scenario tests share: the server with its database file, server-side checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.api import Api
from tests.support.procs import ServerProcess


class ScenarioServer(ServerProcess):
    """The server, plus where its SQLite database file is (to read the audit trail)."""

    def __init__(self, base: Path, **kw: Any) -> None:
        self.db_path = base / "server.db"
        super().__init__(f"sqlite:///{self.db_path}", home=base / "home",
                         signing_key_path=base / "signing-key.pem", **kw)

    def audit(self, device_id: str, event: str) -> list[dict[str, Any]]:
        """The audit events of `event` for `device_id`, oldest first, as an operator reads
        them: through `GET /v1/admin/audit`."""
        api = Api(self.url, self.admin_token)
        try:
            return api.audit(device_id=device_id, event=event)
        finally:
            api.close()


def live_leases(api: Api, license_id: str) -> list[dict[str, Any]]:
    """The license's live leases, as the server's admin API lists them."""
    response = api.admin_get(f"/v1/admin/licenses/{license_id}")
    assert response.status_code == 200, response.text
    leases: list[dict[str, Any]] = response.json()["leases"]
    return leases
