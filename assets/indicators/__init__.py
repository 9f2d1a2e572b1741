"""Indicators an analyst opens: the curated tables (declared in assets.py, one SQL file each under
sql/curated/), and the pure Python around them: `alerts` (new alerts and their delivery) and
`report` (the offline HTML page and PNG charts)."""
