"""Bound parameters for the worked queries in sql/queries/, shared by tests and the README."""

QUERY_PARAMS = {
    "facility_history.sql": {"facility_id": "tumangang", "metric": "railcars"},
    "anomalous_this_month.sql": {"month": "2023-10-01"},
    "evidence_for_alert.sql": {"alert_id": ""},
}
