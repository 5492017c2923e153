"""Desktop tests: the real tray on a virtual X screen, driven as a person would."""
