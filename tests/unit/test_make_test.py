"""make test runs the suite as two pytest processes at once and fails if either fails."""
from devtools import test as make_test


def test_the_worst_shard_decides_and_every_line_says_its_shard(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # two bare pytest runs: seconds of plugin imports saved
    (tmp_path / "passing").mkdir()
    (tmp_path / "passing" / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    (tmp_path / "failing").mkdir()
    (tmp_path / "failing" / "test_no.py").write_text("def test_no():\n    assert False\n")
    status = make_test.run_shards((("good", [str(tmp_path / "passing")]), ("bad", [str(tmp_path / "failing")])),
                                  extra=["-q", "-p", "no:cacheprovider"])
    out = capsys.readouterr().out
    assert status == 1
    assert "[good] " in out and "[bad] " in out and "1 failed" in out
    assert "good passed, bad FAILED (exit 1)" in out


def test_the_shards_cover_every_test_folder():
    from pathlib import Path
    folders = {p.name for p in (Path(make_test.cfg.REPO_ROOT) / "tests").iterdir()
               if p.is_dir() and any(p.glob("test_*.py"))}
    shards = make_test.shards()
    covered = {path.split("/")[1] for _, paths in shards for path in paths}
    assert folders <= covered, "a test folder no shard runs: %s" % sorted(folders - covered)
    system = [path for _, paths in shards for path in paths if path.startswith("tests/integration/")]
    assert len(system) == len(set(system)) == len(list((Path(make_test.cfg.REPO_ROOT) / "tests" / "integration")
                                                       .glob("test_*.py")))
