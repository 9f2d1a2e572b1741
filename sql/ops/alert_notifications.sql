-- Alerts already emitted (logged, or accepted by the webhook), so a re-run never emits them again.
-- Operational state, not a curated table: it records the Dagster run that emitted each alert.
create schema if not exists ops;
create table if not exists ops.alert_notifications (
    alert_id varchar primary key,
    run_id varchar not null,
    webhook_url varchar
);
