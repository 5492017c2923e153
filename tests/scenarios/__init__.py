"""Scenario tests: the real server and the real agent in subprocesses, a fault proxy between."""
