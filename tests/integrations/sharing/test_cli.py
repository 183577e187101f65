"""`lakehouse share serve`: a bad config is one `error:` line and exit code 2 (the running server is
exercised end to end in test_official_connector.py)."""

from __future__ import annotations

from click.testing import CliRunner

from lakehouse.cli import main


def test_missing_config_is_exit_2(tmp_path):
    r = CliRunner().invoke(main, ["share", "serve", str(tmp_path / "nope.yaml")])
    assert r.exit_code == 2 and r.output.strip().startswith("error: cannot read sharing config")


def test_invalid_config_is_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("shares: [{name: 'has space', schemas: []}]\nauthorization: {bearerToken: abcdefgh}\n")
    r = CliRunner().invoke(main, ["share", "serve", str(bad)])
    assert r.exit_code == 2 and "share name 'has space'" in r.output
    bad.write_text("shares: [unclosed\n")
    r = CliRunner().invoke(main, ["share", "serve", str(bad)])
    assert r.exit_code == 2 and "not valid YAML" in r.output
