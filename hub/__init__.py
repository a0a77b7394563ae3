"""The province hub: ingests every centre's events into PostgreSQL (see hub/ingest.py)."""
