"""The chaos test: a busy day against real processes killed and restarted at random (see harness.py)."""
