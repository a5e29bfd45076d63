import json
import os

import pandas as pd
import pytest

from covidbank.samples import make_cohen_sample, make_mosmed_sample


def _bank_state(bank):
    out = {}
    for root, _, files in os.walk(bank):
        for f in files:
            p = os.path.join(root, f)
            out[p] = os.path.getmtime(p), os.path.getsize(p)
    return out


def test_add_query_info(cli, tmp_path):
    bank = tmp_path / "B"
    c = make_cohen_sample(tmp_path / "c")
    res = cli("add", "cohen", c, "--bank", bank)
    assert "images" in res.output and "skipped" in res.output
    cli("add", "mosmed", make_mosmed_sample(tmp_path / "m"), "--bank", bank, "--source-version", "2.0-test")
    res = cli("query", bank, "SELECT DISTINCT source_version FROM images WHERE source = 'mosmed'", "--format", "json")
    assert json.loads(res.stdout) == [{"source_version": "2.0-test"}]
    res = cli("query", bank, "SELECT source, count(*) AS n FROM images GROUP BY source ORDER BY source", "--format", "json")
    rows = json.loads(res.stdout)
    assert [r["source"] for r in rows] == ["cohen", "mosmed"]
    res = cli("query", bank, "SELECT image_id FROM images ORDER BY 1 LIMIT 2", "--format", "csv")
    assert res.stdout.splitlines()[0] == "image_id"
    cli("info", bank)
    # re-adding does not duplicate
    cli("add", "cohen", c, "--bank", bank)
    res = cli("query", bank, "SELECT count(*) AS n FROM images WHERE source='cohen'", "--format", "json")
    assert json.loads(res.stdout)[0]["n"] == 25


@pytest.mark.parametrize("case", ["missing_column", "unreadable", "empty_folder", "not_a_source"])
def test_bad_input_one_line_error_and_bank_unchanged(cli, tmp_path, case):
    bank = tmp_path / "B"
    cli("add", "cohen", make_cohen_sample(tmp_path / "good"), "--bank", bank)
    before = _bank_state(bank)
    bad = tmp_path / "bad"
    bad.mkdir()
    if case == "missing_column":
        (bad / "metadata.csv").write_text("patientid,finding,view,modality\n1,COVID-19,PA,X-ray\n")
        expect = ["metadata.csv", "missing required column", "filename"]
    elif case == "unreadable":
        (bad / "metadata.csv").mkdir()  # a folder where the CSV should be
        expect = ["metadata.csv"]
    elif case == "empty_folder":
        expect = [str(bad), "empty"]
    else:
        (bad / "notes.txt").write_text("nothing here")
        expect = ["metadata.csv", "not found"]
    res = cli("add", "cohen", bad, "--bank", bank, expect=1)
    msg = res.output.strip()
    assert len(msg.splitlines()) == 1, msg
    for e in expect:
        assert e in msg.replace("\n", ""), msg
    assert _bank_state(bank) == before


def test_query_error_and_missing_bank(cli, tmp_path):
    res = cli("query", tmp_path / "nope", "SELECT 1", expect=1)
    assert "no such bank" in res.output
    cli("add", "mosmed", make_mosmed_sample(tmp_path / "m"), "--bank", tmp_path / "B")
    res = cli("query", tmp_path / "B", "SELECT nope FROM images", expect=1)
    assert "query failed" in res.output


def test_labels_command(cli):
    res = cli("labels", "COVID 19")
    assert "C5203670" in res.output and "Pneumonia" in res.output


def test_every_command_has_help(cli):
    from covidbank.cli import get_app
    import typer.main

    group = typer.main.get_command(get_app())
    for name in group.commands:
        res = cli(name, "--help")
        assert "Usage" in res.output


@pytest.mark.realdata
def test_real_sources_in_one_bank(cli, shared_data, tmp_path):
    bank = tmp_path / "B"
    res = cli("add", "cohen", shared_data / "cohen", "--bank", bank)
    assert "PA 314" in res.output and "AP 119" in res.output  # raw view counts stated
    cli("add", "bimcv", shared_data / "bimcv" / "COVID19_POSI_v1.0_dev.tsv", "--bank", bank)
    cli("add", "mosmed", shared_data / "mosmed", "--bank", bank)
    from covidbank import Bank

    b = Bank(bank)
    n = b.query("SELECT source, count(*) AS images, count(DISTINCT subject_id) AS subjects FROM images GROUP BY 1 ORDER BY 1")
    assert n.set_index("source")["images"].to_dict() == {"bimcv": 3828, "cohen": 673, "mosmed": 1110}
    assert n.set_index("source")["subjects"].to_dict()["bimcv"] == 922
    clash = b.query("SELECT subject_id FROM images GROUP BY 1 HAVING count(DISTINCT source) > 1")
    assert clash.empty
    # hierarchy across sources: everything below Pneumonia, in either vocabulary
    from covidbank.labels import default_tree

    t = default_tree([shared_data / "bimcv" / "padchest_trees_code_covid.txt"])
    names = sorted(t.names("Pneumonia"))
    q = b.query("SELECT source, count(DISTINCT image_id) AS n FROM labels WHERE value = 1 AND list_contains(?, label) GROUP BY 1".replace("?", "[" + ",".join("'" + x.replace("'", "''") + "'" for x in names) + "]"))
    got = q.set_index("source")["n"].to_dict()
    assert got["cohen"] > 500 and got["bimcv"] > 1500


def test_package_imports_lazily():
    import subprocess
    import sys

    code = ("import sys, covidbank, covidbank.cli; covidbank.cli.get_app(); "
            "heavy = [m for m in ('pandas', 'duckdb', 'matplotlib', 'scipy', 'torch', 'fastapi') if m in sys.modules]; "
            "print(','.join(heavy)); "
            "from covidbank import Bank, assess, deidentify, build_report, create_app, SourceFormatError")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"imported at CLI start-up: {out}"


def test_output_path_problems_are_one_line_errors(cli, tmp_path):
    # an --out that is a folder (or sits under a file) gave a Python traceback
    src = tmp_path / "reports.tsv"
    src.write_text("Report\nDerrame pleural derecho.\n", encoding="utf-8")
    a_dir = tmp_path / "adir"
    a_dir.mkdir()
    for args in (("deid-text", src, "-c", "Report", "--out", a_dir),
                 ("label-reports", src, "-c", "Report", "--out", a_dir)):
        res = cli(*args, expect=1)
        err = res.output.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and str(a_dir) in err[0], res.output
    bank = tmp_path / "B"
    cli("add", "mosmed", make_mosmed_sample(tmp_path / "m"), "--bank", bank)
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    res = cli("report", bank, "--out", a_file, expect=1)
    last = res.output.strip().splitlines()[-1]  # after the section progress lines
    assert last.startswith("error:") and str(a_file) in last and "Traceback" not in res.output, res.output


def test_query_starts_without_pandas(tmp_path):
    """`covidbank query` (table and csv) reads rows straight from DuckDB: pandas is never imported."""
    import subprocess
    import sys

    from covidbank.bank import Bank

    b = Bank(tmp_path / "B", create=True)
    b.add("s", {"images": pd.DataFrame([{"image_id": "s:1", "subject_id": "s:1", "session_id": "s:1", "age": 50.5}])})
    code = (
        "import sys\n"
        "from covidbank.cli import main\n"
        f"sys.argv = ['covidbank', 'query', {str(b.path)!r}, 'SELECT image_id, age, sex FROM images', '--format', 'csv']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('pandas' in sys.modules)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.splitlines() == ["image_id,age,sex", "s:1,50.5,", "False"]


def test_a_run_builds_only_the_command_it_invokes(tmp_path):
    """`covidbank query ...` builds the Click parameters of `query` alone (typer builds every command's by default),
    and a run that prints nothing through rich (CSV rows) does not import rich."""
    import subprocess
    import sys

    from covidbank.bank import Bank
    from covidbank.cli import _command_app, get_app

    app = get_app()
    names = lambda a: ([c.name or c.callback.__name__ for c in a.registered_commands],  # noqa: E731
                       [g.name for g in a.registered_groups])
    assert names(_command_app(["query", "B", "SELECT 1"])) == (["query"], [])
    assert names(_command_app(["-q", "-vv", "add", "cohen", "x"])) == (["add"], [])
    assert names(_command_app(["key", "new"])) == ([], ["key"])
    for argv in ([], ["--help"], ["--version"], ["-q"], ["quer"], ["--quiet", "--help", "add"]):
        assert _command_app(argv) is None, argv
    assert len(app.registered_commands) > 20  # the whole app is left as it was

    b = Bank(tmp_path / "B", create=True)
    b.add("s", {"images": pd.DataFrame([{"image_id": "s:1", "subject_id": "s:1", "session_id": "s:1"}])})
    code = (
        "import sys, typer.main\n"
        "built = []\n"
        "orig = typer.main.get_command_from_info\n"
        "typer.main.get_command_from_info = lambda *a, **k: built.append(1) or orig(*a, **k)\n"
        "from covidbank.cli import main\n"
        f"sys.argv = ['covidbank', '-q', 'query', {str(b.path)!r}, 'SELECT count(*) AS n FROM images', '-f', 'csv']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(len(built))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'pandas'}))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.splitlines() == ["n", "1", "1", "[]"], res.stdout + res.stderr


def test_quiet_set_before_the_console_is_built_is_kept(capsys):
    """The message console is built on first use: `-q` given before it must still silence it."""
    import logging

    from covidbank.cli import _output

    con = _output._LazyConsole(stderr=True)
    con.quiet = True
    con.print("hidden")
    assert con.quiet is True and capsys.readouterr().err == ""
    loud = _output._LazyConsole(stderr=True)
    loud.print("shown")
    assert "shown" in capsys.readouterr().err
    h = _output._LogHandler(show_path=False)
    h.setLevel(logging.INFO)
    h.handle(logging.LogRecord("covidbank.x", logging.WARNING, __file__, 1, "a [bold]message[/]", None, None))
    assert "a [bold]message[/]" in capsys.readouterr().err  # as text, not markup


def test_version_and_global_quiet(cli, tmp_path):
    from covidbank import __version__

    assert cli("--version").stdout.strip() == f"covidbank {__version__}"
    c = make_cohen_sample(tmp_path / "c")
    loud = cli("add", "cohen", c, "--bank", tmp_path / "B")
    quiet = cli("-q", "add", "cohen", c, "--bank", tmp_path / "B")
    assert "images" in loud.output and quiet.output == ""
    # errors still show with -q
    res = cli("-q", "add", "cohen", tmp_path / "missing", "--bank", tmp_path / "B", expect=1)
    assert "error:" in res.output


def test_json_on_add_info_and_demo(cli, tmp_path):
    c = make_cohen_sample(tmp_path / "c")
    added = json.loads(cli("add", "cohen", c, "--bank", tmp_path / "B", "--json").stdout)
    assert added["source"] == "cohen" and added["counts"]["images"] == 25 and "skipped_by_reason" in added
    info = json.loads(cli("info", tmp_path / "B", "--json").stdout)
    assert info[0]["source"] == "cohen"
    demo = json.loads(cli("demo", "--bank", tmp_path / "D", "--json").stdout)
    assert set(demo) == {"summary", "views", "labels", "grades"}


def test_demo_labels_sharing_a_cui_are_one_row(tmp_path):
    from covidbank.demo import run_demo

    labels = run_demo(tmp_path / "D")["labels"]
    cuis = labels["cui"].dropna()
    assert cuis.is_unique, labels
    assert not ({"COVID-19", "COVID 19"} <= set(labels["label"]))


def test_wide_tables_stay_readable_at_80_columns(cli):
    res = cli("catalog", "--modality", "CT")  # CliRunner's terminal is 80 columns wide
    lines = res.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= 80
    # every value is shown whole: one 'name  <value>' line per resource
    assert any(ln.startswith("name") and "COVID-19 Image Data Collection" in ln for ln in lines)


def test_progress_shows_in_a_log(tmp_path):
    import io

    from covidbank.progress import ProgressBar, set_quiet

    log = io.StringIO()
    with ProgressBar("ingest", total=4, stream=log, interval=0) as bar:
        for _ in range(4):
            bar.advance()
    assert log.getvalue().splitlines()[-1].startswith("ingest: 4/4 (100%)")
    set_quiet(True)
    try:
        quiet = io.StringIO()
        with ProgressBar("ingest", total=2, stream=quiet, interval=0) as bar:
            bar.advance(2)
        assert quiet.getvalue() == ""
    finally:
        set_quiet(False)


def test_covidbank_ingest_stays_the_function_once_the_cli_is_loaded():
    import subprocess
    import sys

    code = ("import covidbank, covidbank.cli; covidbank.cli.get_app(); import covidbank.dicom.ingest; "
            "print(callable(covidbank.ingest), covidbank.ingest.__module__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.split() == ["True", "covidbank.dicom.ingest.pipeline"], r.stderr


def test_one_deidentify_per_concept():
    import covidbank
    import covidbank.dicom as d
    import covidbank.nlp as n

    assert covidbank.deidentify is n.deidentify            # report text
    assert d.deidentify_dataset.__module__ == "covidbank.dicom.deid"   # DICOM datasets
