"""The shared Dagster kit: the resource, partitions, the suite-to-check bridge, the window
writer, the curated-table factory and the schedules. It never imports a source."""
