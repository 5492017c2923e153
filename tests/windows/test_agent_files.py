"""The agent's files on Windows: folders made, secrets written by exclusive temp + rename.

(The CLI itself cannot run on Windows until the control channel is a named pipe, and this
prefix's `cryptography` cannot load its Rust DLL under Wine, so session.py cannot be
imported here: this drives the file code beneath them on the real Windows CPython.)
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.windows import wine

SCRIPT = r"""
import json, os, sys
from pathlib import Path
from seatkeeper.config import Paths
from seatkeeper.service.credentials import CredentialStore
from seatkeeper.service.outbox import Outbox
from seatkeeper.service.private import private_dirs, write_secret

paths = Paths.resolve({"SEATKEEPER_HOME": sys.argv[1]})
private_dirs(paths.folders)
store = CredentialStore(paths.data_dir, use_keyring=False)
store.save("skd_first")
store.save("skd_second")
write_secret(paths.data_dir / "session.json", json.dumps({"release_token": "skr_rt"}))
with Outbox(paths.outbox) as box:
    box.enqueue_logout("skd_second", server_url="https://licenses.example.test")
    queued = len(box.pending())
loaded = store.load()
store.clear()
print(json.dumps({"loaded": loaded, "queued": queued, "after_clear": store.load(),
                  "session": json.loads((paths.data_dir / "session.json").read_text())}))
"""


def test_secrets_are_written_and_replaced_on_windows(tmp_path: Path) -> None:
    """Windows CPython: the agent's folders are made, the token written and replaced (no
    temporary file left), a session file and the outbox kept; clearing deletes the token."""
    home = tmp_path / "home"
    done = wine.run_python(["-c", SCRIPT, wine.windows_path(home)])
    assert done.returncode == 0, done.stdout
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"loaded": "skd_second", "queued": 1, "after_clear": None,
                      "session": {"release_token": "skr_rt"}}
    for folder in ("data", "logs", "run"):
        assert (home / folder).is_dir(), f"{folder} was not made"
    data = home / "data"
    left = sorted(path.name for path in data.iterdir())
    assert [name for name in left if name.endswith(".tmp")] == [], left
    assert "device-token" not in left and "session.json" in left, left
