"""Pytest fixtures that run the Alma simulator on loopback (owned by the simulator's author)."""
