"""The license server, tested over HTTP against SQLite and PostgreSQL."""
