"""installer/windows-msi: the WiX source and the Group Policy template agree with the agent.

These read the files (the MSI itself is built, installed and run under Wine by
tests/windows/test_msi.py): the template may only name settings the agent reads, in the
key it reads them from, and every string and presentation it refers to must exist.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from seatkeeper.config import KEYS
from seatkeeper.platform import windows

from tests.support.procs import REPO_ROOT

MSI = REPO_ROOT / "installer" / "windows-msi"
NS = {"p": "http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions"}
WIX = {"w": "http://schemas.microsoft.com/wix/2006/wi"}


def parse(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # noqa: S314 (this repository's own files)


def test_admx_policies_write_settings_the_agent_reads() -> None:
    """Every policy writes a known setting (or `locked`) under the agent's policy key, and
    every setting has its policy."""
    admx = parse(MSI / "admx" / "seatkeeper.admx")
    names = set()
    for policy in admx.iterfind(".//p:policy", NS):
        assert policy.get("key") == windows.POLICY_KEY
        assert policy.get("class") == "Machine"
        values = [policy.get("valueName")] + [
            element.get("valueName") for element in policy.iterfind("p:elements/*", NS)]
        names |= {value for value in values if value}
    assert names == {*KEYS, "locked"}, {"unknown": names - {*KEYS, "locked"},
                                        "without a policy": {*KEYS, "locked"} - names}


@pytest.mark.parametrize("language", ["en-US", "de-DE", "fr-FR"])
def test_adml_has_every_string_and_presentation_the_admx_names(language: str) -> None:
    """No $(string.X) or $(presentation.X) of the template is missing from the English,
    German or French resources."""
    admx = (MSI / "admx" / "seatkeeper.admx").read_text(encoding="utf-8")
    adml = parse(MSI / "admx" / language / "seatkeeper.adml")
    strings = {s.get("id") for s in adml.iterfind(".//p:stringTable/p:string", NS)}
    presentations = {p.get("id") for p in adml.iterfind(".//p:presentationTable/*", NS)}
    for kind, known in (("string", strings), ("presentation", presentations)):
        for part in admx.split(f"$({kind}.")[1:]:
            assert part.split(")")[0] in known, f"{kind} {part.split(')')[0]} is missing"


def test_msi_writes_the_keys_the_agent_reads() -> None:
    """The WiX source's registry values are the policy key's and the machine's Run value."""
    wxs = parse(MSI / "seatkeeper.wxs")
    written = {(value.get("Root"), value.get("Key"), value.get("Name"))
               for value in wxs.iterfind(".//w:RegistryValue", WIX)}
    assert written == {("HKLM", windows.RUN_KEY, windows.RUN_VALUE),
                       ("HKLM", windows.POLICY_KEY, "server_url"),
                       ("HKLM", windows.POLICY_KEY, "locked"),
                       # What an upgrade reads back to keep the lock (not a setting).
                       ("HKLM", "SOFTWARE\\Seatkeeper", "LockServerUrl")}
