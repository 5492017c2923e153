"""The agent daemon's I/O: HTTP client, durable outbox, device identity."""
