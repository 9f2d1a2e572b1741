-- How much news attention did a facility get around an observation?
-- Parameters: $facility_id (e.g. 'tumangang'), $observed_on (date, e.g. 2023-10-05),
-- $days_before (e.g. 3), $days_after (e.g. 10).
with attention as (
    select * from curated.news_attention_daily
    where facility_id = $facility_id
),

near as (
    select
        published_on,
        n_articles,
        n_sources,
        n_languages,
        attention_z,
        top_urls
    from attention
    where published_on between cast($observed_on as date) - cast($days_before as integer)
        and cast($observed_on as date) + cast($days_after as integer)
)

select * from near
order by published_on;
