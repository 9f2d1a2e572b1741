"""Shared building blocks for every source: source stores, the raw zone, parse results, the warehouse."""
