from covidbank import Bank


def test_demo_builds_a_bank(cli, tmp_path):
    bank = tmp_path / "demo"
    res = cli("demo", "--bank", bank)
    assert "Bank summary" in res.output
    b = Bank(bank)
    assert b.sources() == ["bimcv", "cohen", "mids", "mosmed"]
    present = b.resolve_paths(b.query("SELECT source, path FROM images WHERE file_present"))["path"]
    assert len(present) > 10
    import os

    assert all(os.path.isfile(p) for p in present)  # sample files were kept beside the bank
    # running it again replaces, never duplicates
    n = len(b.table("images"))
    cli("demo", "--bank", bank)
    assert len(Bank(bank).table("images")) == n
