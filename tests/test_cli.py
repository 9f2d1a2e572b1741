"""The CLI speaks in sentences: bad arguments, a missing warehouse, a locked one."""

import pytest

from orchestration import cli


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["materialize", "--start", "2023-13-01", "--end", "2023-10-02"],
            "--start '2023-13-01' is not a date",
        ),
        (
            ["materialize", "--start", "2023-10-01", "--end", "yesterday"],
            "--end 'yesterday' is not a date",
        ),
        (
            ["materialize", "--start", "2023-10-05", "--end", "2023-10-01"],
            "--start 2023-10-05 is after --end 2023-10-01",
        ),
        (
            ["materialize", "--start", "2014-12-31", "--end", "2015-01-02"],
            "before the first partition, 2015-01-01",
        ),
        (["query", "missing.sql"], "no such SQL file: missing.sql"),
        (["query", "select 1", "--param", "novalue"], "must look like name=value"),
    ],
)
def test_usage_errors(bw_env, argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_query_without_a_warehouse_says_what_to_do(bw_env, capsys):
    assert cli.main(["query", "select 1"]) == 1
    assert "run `borderwatch demo` or `borderwatch materialize` first" in capsys.readouterr().err


def test_config_lists_every_setting(bw_env, capsys):
    assert cli.main(["config"]) == 0
    out = capsys.readouterr().out
    for name in (
        "BORDERWATCH_SOURCE",
        "BORDERWATCH_FACILITIES",
        "BORDERWATCH_HOME",
        "BORDERWATCH_ALERT_WEBHOOK",
    ):
        assert name in out


def test_a_failing_step_is_reported_by_its_own_message(bw_env, tmp_path, monkeypatch, capsys):
    bad = tmp_path / "facilities.csv"
    bad.write_text("facility_id,name\nx,y\n", encoding="utf-8")
    monkeypatch.setenv("BORDERWATCH_FACILITIES", str(bad))
    assert (
        cli.main(
            [
                "materialize",
                "--start",
                "2023-10-01",
                "--end",
                "2023-10-01",
                "--select",
                "facilities",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert f"facilities: {bad}: missing required column(s) kind, country" in err
