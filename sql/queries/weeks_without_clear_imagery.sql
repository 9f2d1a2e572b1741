-- Which weeks have reported counts but no clear imagery over the facility? Counts nobody can
-- check against a clear scene of the same week: candidates for tasking imagery or for caution.
-- Parameters: none.
with weeks as (
    select * from curated.crossing_indicators_weekly
)

select
    facility_id,
    facility_name,
    week_start,
    iso_year,
    iso_week,
    n_observations,
    railcars_latest,
    railcars_max,
    n_scenes,
    n_clear_days,
    status
from weeks
where n_observations > 0
    and n_clear_days = 0
order by facility_id, week_start;
