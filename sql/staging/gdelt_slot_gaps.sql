-- 15-minute GDELT slots that were expected but are not held: a gap to report, not an error.
-- kind: 'gkg' | 'export' | 'mentions' (a translation file counts for its kind).
-- Expected = the slots gdelt/masterfilelist.txt lists when the store has one, else every slot
-- of the window for each kind the store holds. Partitioned daily on slot_on.
-- Key: (kind, slot_at). DuckLake has no PRIMARY KEY: writers replace a whole window (delete,
-- then insert) in one transaction, so a slot is never held twice.
create schema if not exists staging;
create table if not exists staging.gdelt_slot_gaps (
    kind varchar not null,
    slot_at timestamptz not null,
    slot_on date not null
);
