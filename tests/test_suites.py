"""Every Great Expectations suite is a valid GX 1.x suite and sits beside its table's SQL file."""

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUITES = sorted((REPO / "sql").glob("*/*.expectations.json"))


def test_every_table_file_has_a_suite_beside_it():
    tables = {
        p.with_suffix("")
        for p in (REPO / "sql").glob("*/*.sql")
        if p.parent.name in {"staging", "curated", "ops", "quarantine", "raw"}
    }
    suites = {p.parent / p.name.removesuffix(".expectations.json") for p in SUITES}
    assert tables == suites


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.name)
def test_suite_is_a_gx_suite_named_after_its_table(path):
    import great_expectations as gx

    spec = json.loads(path.read_text())
    suite = gx.ExpectationSuite(name=spec["name"], expectations=spec["expectations"])
    assert len(suite.expectations) == len(spec["expectations"])
    assert path.name == f"{spec['name']}.expectations.json"
    severities = {e.get("meta", {}).get("severity") for e in spec["expectations"]}
    assert severities <= {"error", "warn"} and "error" in severities
