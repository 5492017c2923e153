"""Tests of the tray agent."""
