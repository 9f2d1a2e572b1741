-- Alerts already emitted (logged, or accepted by the webhook), so a re-run never emits them again.
-- Operational state, not a curated table: it records the Dagster run that emitted each alert.
-- channel: 'log' or 'webhook' (the webhook URL is a secret and is never stored).
-- Key: alert_id. DuckLake has no PRIMARY KEY: the writer inserts only alert ids it does not hold.
create schema if not exists ops;
create table if not exists ops.alert_notifications (
    alert_id varchar not null,
    run_id varchar not null,
    channel varchar not null
);
