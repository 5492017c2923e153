"""The protocol's rules, as functions over a database session and the time `now`."""
