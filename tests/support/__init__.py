"""Test harness: the real server in a subprocess, throwaway databases, an API client."""
