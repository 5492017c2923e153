"""Pure logic of the agent: no sockets, files, threads or clocks of its own."""
