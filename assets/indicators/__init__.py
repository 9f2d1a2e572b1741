"""Indicators an analyst opens: weekly crossing status, evidence per anomaly, alerts and the report.

The tables are SQL files (sql/curated/crossing_indicators_weekly.sql, evidence.sql, alerts.sql,
built in that order after activity_baselines); this package holds the pure Python around them:
`alerts` (new alerts and the webhook) and `report` (the offline HTML page and PNG charts).
"""

# The bound $parameters of the three SQL files; the rules they feed are in each file's header.
DEFAULT_PARAMS: dict[str, float | int] = {
    "min_prior_n": 5,
    "ratio_elevated": 1.0,
    "attention_z_elevated": 2.0,
    "scene_window_days": 7,
    "article_window_days": 14,
    "clear_cloud_max": 20.0,
    "high_ratio": 3.0,
    "high_robust_z": 7.0,
}
