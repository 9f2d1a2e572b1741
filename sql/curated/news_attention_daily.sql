-- Daily news attention per facility: how many facility-matched articles appeared, from how many
-- outlets and languages, their mean tone, and how unusual the count is for that facility.
--
-- attention_z = (n_articles - mean) / stddev over the facility's prior 90 days (d-90 .. d-1)
-- of daily article counts. Days without articles count as zero: each facility gets a dense
-- calendar from the first to the last published_on in the staged articles (any facility), so
-- "no news" is part of the baseline. Fewer than 90 prior days (the start of the data) use what
-- there is. attention_z is null when there is no history (under 2 prior days) or the prior
-- counts are all equal (stddev 0): a jump from a flat zero line is then visible in n_articles.
-- Sample standard deviation (stddev_samp).
--
-- One row per facility and day with at least one article. An article matched to a facility in
-- several ways counts once. top_urls: up to 5 document URLs, real before synthetic rows, then
-- earliest published_at, then URL (a total order, so the list is stable).
create schema if not exists curated;
create or replace table curated.news_attention_daily as
with articles as (
    select * from staging.stg_news__articles
),

links as (
    select distinct article_id, facility_id from staging.stg_news__article_facilities
),

facility_articles as (
    select
        l.facility_id,
        a.article_id,
        a.published_on,
        a.published_at,
        a.document_url,
        a.source_name,
        a.language,
        a.tone,
        a.synthetic
    from links as l
    inner join articles as a on a.article_id = l.article_id
),

daily as (
    select
        facility_id,
        published_on,
        count(*) as n_articles,
        count(distinct source_name) as n_sources,
        count(distinct language) as n_languages,
        -- Averaged over a list in a fixed order: a parallel avg() adds in any order, and
        -- floating-point sums in another order differ in the last digit between runs.
        list_avg(list(tone order by tone, article_id)) as mean_tone,
        list(document_url order by synthetic, published_at, document_url)[1:5] as top_urls
    from facility_articles
    group by facility_id, published_on
),

bounds as (
    select min(published_on) as first_day, max(published_on) as last_day
    from facility_articles
),

days as (
    select cast(unnest(generate_series(first_day, last_day, interval 1 day)) as date) as day
    from bounds
    where first_day is not null
),

calendar as (
    select f.facility_id, d.day, coalesce(dl.n_articles, 0) as n
    from (select distinct facility_id from facility_articles) as f
    cross join days as d
    left join daily as dl on dl.facility_id = f.facility_id and dl.published_on = d.day
),

prior_counts as (
    select
        facility_id,
        day,
        n,
        count(n) over prior_90 as prior_days,
        avg(n) over prior_90 as prior_mean,
        stddev_samp(n) over prior_90 as prior_stddev
    from calendar
    window prior_90 as (
        partition by facility_id order by day rows between 90 preceding and 1 preceding
    )
),

final as (
    select
        dl.facility_id,
        dl.published_on,
        dl.n_articles,
        dl.n_sources,
        dl.n_languages,
        dl.mean_tone,
        case
            when t.prior_days < 2 or t.prior_stddev is null or t.prior_stddev = 0 then null
            else (dl.n_articles - t.prior_mean) / t.prior_stddev
        end as attention_z,
        dl.top_urls
    from daily as dl
    inner join prior_counts as t on t.facility_id = dl.facility_id and t.day = dl.published_on
)

select * from final
order by facility_id, published_on
