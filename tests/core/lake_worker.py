"""A separate process that writes or reads the lake, for the concurrency tests (not a test module).

usage: python lake_worker.py ROLE CONFIG_JSON [options as JSON]
Prints one JSON line with what it did. Roles:
- window:  N transactions, each replacing one key's rows of lake_t with a fresh batch (delete,
           then insert) and appending a row to lake_log;
- counter: N transactions, each reading the one-row lake_counter, deleting it and inserting
           value + 1 (a lost update shows as a final value below the number of commits);
- reader:  reads lake_t until the stop file exists, checking every read is one whole batch;
- hang:    inserts many rows in a transaction, says so, then waits to be killed before COMMIT.
- upsert:  one transaction inserting the row (shared, 0) into lake_log unless it is there,
           holding the transaction open `hold` seconds between the check and the insert.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from assets.core.lake import LakeConfig, connect, read_frame, transact  # noqa: E402

BATCH = 250


def _start_together(opts: dict) -> None:
    """Say "ready" (once connected), then wait for the test's go file: the writers' first
    transactions then overlap instead of one process finishing before the other has started."""
    if opts.get("ready"):
        Path(opts["ready"]).touch()
    while opts.get("go") and not Path(opts["go"]).exists():
        time.sleep(0.005)


def window(config: LakeConfig, opts: dict) -> dict:
    con = connect(config)
    _start_together(opts)
    key, attempts = opts["key"], 0
    for i in range(opts["n"]):

        def work(c, i=i):
            nonlocal attempts
            attempts += 1
            c.execute("delete from staging.lake_t where k = $k", {"k": key})
            c.execute(
                "insert into staging.lake_t select $k, $i, range from range($batch)",
                {"k": key, "i": i, "batch": BATCH},
            )
            c.execute("insert into staging.lake_log values ($k, $i)", {"k": key, "i": i})

        transact(con, work, attempts=30)
    return {"commits": opts["n"], "attempts": attempts}


def counter(config: LakeConfig, opts: dict) -> dict:
    con = connect(config)
    _start_together(opts)
    attempts = 0
    for i in range(opts["n"]):

        def work(c, i=i):
            nonlocal attempts
            attempts += 1
            (value,) = c.execute("select value from staging.lake_counter").fetchone()
            c.execute("delete from staging.lake_counter")
            c.execute("insert into staging.lake_counter values ($v)", {"v": value + 1})
            c.execute("insert into staging.lake_log values ($k, $i)", {"k": opts["key"], "i": i})
            time.sleep(opts.get("hold", 0))  # keep the transaction open so writers overlap

        transact(con, work, attempts=60)
    return {"commits": opts["n"], "attempts": attempts}


def reader(config: LakeConfig, opts: dict) -> dict:
    reads, seen, bad = 0, set(), []
    stop = Path(opts["stop"])
    con = None
    while True:
        done = stop.exists()  # checked before the read: the last read sees the last commit
        if reads % 10 == 0:  # a fresh connection now and then, as each CLI query makes one
            if con is not None:
                con.close()
            con = connect(config, read_only=True)
        frame = read_frame(
            con,
            "select k, count(*) as n, count(distinct i) as batches, min(i) as i "
            "from staging.lake_t group by k",
        )
        reads += 1
        for row in frame.iter_rows(named=True):
            if row["n"] != BATCH or row["batches"] != 1:
                bad.append(row)
            seen.add((row["k"], row["i"]))
        if done:
            return {"reads": reads, "bad": bad, "batches_seen": len(seen)}


def hang(config: LakeConfig, opts: dict) -> dict:
    con = connect(config)
    con.execute("begin transaction")
    con.execute(
        "insert into staging.lake_t select 'killed', -1, range from range($n)", {"n": opts["rows"]}
    )
    print(json.dumps({"inserted": opts["rows"]}), flush=True)
    time.sleep(600)  # the test kills this process before it commits
    return {}


def upsert(config: LakeConfig, opts: dict) -> dict:
    con = connect(config)
    _start_together(opts)
    attempts = found_missing = 0

    def work(c):
        nonlocal attempts, found_missing
        attempts += 1
        key = {"k": opts["shared"]}
        (missing,) = c.execute(
            "select count(*) = 0 from staging.lake_log where k = $k and i = 0", key
        ).fetchone()
        time.sleep(opts.get("hold", 0))  # the other writer checks meanwhile, if it can
        if missing:
            found_missing += 1
            c.execute("insert into staging.lake_log values ($k, 0)", key)

    transact(con, work, attempts=30)
    return {"attempts": attempts, "found_missing": found_missing}


if __name__ == "__main__":
    role, raw_config = sys.argv[1], json.loads(sys.argv[2])
    options = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    roles = {"window": window, "counter": counter, "reader": reader, "hang": hang, "upsert": upsert}
    result = roles[role](LakeConfig(**raw_config), options)
    print(json.dumps(result), flush=True)
