-- What is the evidence for alert X? The report(s), the scenes around the observation and the
-- matched articles after it, in that order.
-- Parameters: $alert_id (varchar, as in curated.alerts.alert_id).
with evidence as (
    select * from curated.evidence
)

select
    alert_id,
    facility_id,
    metric,
    observed_on,
    evidence_kind,
    ref,
    title,
    detail,
    evidence_on,
    days_from_observation,
    evidence_facility_id
from evidence
where alert_id = $alert_id
order by
    case evidence_kind when 'report' then 1 when 'scene' then 2 else 3 end,
    evidence_on,
    ref,
    detail;
