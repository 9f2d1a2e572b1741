"""Imagery: STAC scenes from folders, S3 buckets and STAC APIs, staged per facility."""
