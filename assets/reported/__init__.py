"""Reported counts: analysts' imagery counts and trade statistics, each row with its provenance."""
