"""Device identity, pure part: the fingerprint the server sees, and the platform's name.

A device is one agent data directory on one machine. Its fingerprint hashes
the machine's id together with a random id made on first run, so the server
never sees the raw machine id, and two data directories on one machine are
two devices.
"""

from __future__ import annotations

import re

FINGERPRINT_VERSION = "seatkeeper-device-v1"
INSTALL_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
PLATFORMS = {"linux": "linux", "win32": "windows", "darwin": "macos"}


def fingerprint(machine_id: str, install_id: str) -> str:
    """sha256 hex of (version, machine id, install id): stable, and not reversible."""
    if not INSTALL_ID_PATTERN.match(install_id):
        raise ValueError("install_id must be 32 lowercase hex characters")
    material = "\0".join((FINGERPRINT_VERSION, machine_id.strip().lower(), install_id))
    import hashlib  # here: OpenSSL's hashing is loaded only when a fingerprint is made

    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def platform_name(sys_platform: str) -> str:
    """`sys.platform` -> the protocol's platform name (`linux`, `windows`, `macos`, other)."""
    for prefix, name in PLATFORMS.items():
        if sys_platform.startswith(prefix):
            return name
    return sys_platform


def is_install_id(text: str) -> bool:
    """Whether `text` is an install id as `new_install_id` makes them."""
    return bool(INSTALL_ID_PATTERN.match(text))


MAX_DEVICE_NAME = 64
FALLBACK_DEVICE_NAME = "unnamed computer"


def default_device_name(hostname: str) -> str:
    """A device name others can recognise, from the host name.

    The first label of a fully qualified name (`survey-laptop.corp.example` ->
    `survey-laptop`), macOS's `.local` dropped, cut to 64 characters; a host
    name that is empty or an IP address gives a neutral name.
    """
    name = hostname.strip().rstrip(".")
    if not name or name.replace(".", "").isdigit() or ":" in name:
        return FALLBACK_DEVICE_NAME
    return name.split(".", 1)[0][:MAX_DEVICE_NAME] or FALLBACK_DEVICE_NAME
