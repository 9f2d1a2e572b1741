"""Dagster wiring for borderwatch: definitions, resources, partitions, jobs, schedules, checks, CLI."""
