"""How covidbank grows with the bank: add, query, split, duplicates and the viewer at 10k .. 10M rows.

For each size a Cohen-format ``metadata.csv`` is generated
(:func:`covidbank.samples.make_cohen_table`: synthetic rows, no images) and
every step runs in its own process, which reports its time and its peak
resident memory above the memory it had after its imports:

* ``add``     ``load_source("cohen") + Bank.add``; peer: torchxrayvision's
              ``COVID19_Dataset`` indexing the same CSV (all six views); the
              image rows on both sides are printed and must agree;
* ``query``   ``Bank.query`` (a GROUP BY over ``images``); peer: DuckDB alone
              on the same Parquet files; and the command-line start-up
              (``covidbank query`` vs ``python -c "import duckdb ..."``);
* ``split``   ``write_split`` (patient-level 70/15/15);
* ``dups``    ``find_duplicates`` on the index (no file is present: the
              metadata path only);
* ``startup`` ``covidbank add`` then ``covidbank serve`` as new processes, until
              the first search page: with the viewer's cache built by ``add``
              (the default) and with ``add --no-viewer-cache`` (the server
              builds it on its first start);
* ``viewer``  building the viewer's DuckDB cache (cold start), opening it again
              (warm start), then search pages (HTML, 50 rows, facets) through
              the ASGI app: median and p95 per query, and the server's peak
              memory.  With ``--peer-src`` the same search runs with another
              checkout's ``src`` (the viewer before this change) up to
              ``--peer-max`` rows.

Prints one table and writes a PNG plot (``--plot``) and the raw figures
(``--json``); the load average is printed with the figures.

    PYTHONPATH=src python bench/scale.py [--rows 10000,100000,1000000] [--plot scale.png]
        [--peer-src ../main/src --peer-max 100000] [--work DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SQL = "SELECT view, count(*) AS n, avg(age) AS age FROM images GROUP BY view ORDER BY view"
VIEWS = ["PA", "AP", "AP Supine", "L", "Axial", "Coronal"]
SEARCHES = {
    "all records": {},
    "view=PA": {"view": "PA"},
    "label=Pneumonia": {"label": "Pneumonia"},
    "label=Pneumonia, view=AP Supine, age>=70": {"label": "Pneumonia", "view": "AP Supine", "age_min": "70"},
    "text 'ground-glass'": {"q": "ground-glass"},
}


def _rss_mb() -> float:
    """This process's peak resident memory so far, MB: ``VmHWM`` of ``/proc/self/status`` where there is one.

    Not ``ru_maxrss`` on Linux: a child keeps the parent's resident size at the fork as its ``ru_maxrss``
    across ``exec``, so a step started after the parent generated a table had that as its "base" (its figures
    came out too low: 92 MB instead of 240 for an add of 100k rows).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------- child steps
def step_add(csv_dir: Path, bank: Path) -> dict:
    from covidbank.bank import Bank
    from covidbank.sources import load_source

    base = _rss_mb()
    t = time.perf_counter()
    res = load_source("cohen", csv_dir)
    summary = Bank(bank, create=True).add("cohen", res.all_tables(), meta=res.meta)
    return {"seconds": time.perf_counter() - t, "base_mb": base, "peak_mb": _rss_mb(), "images": summary.counts["images"]}


def step_xrv(csv_dir: Path, bank: Path) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    import torchxrayvision as xrv

    base = _rss_mb()
    t = time.perf_counter()
    ds = xrv.datasets.COVID19_Dataset(imgpath=str(csv_dir / "images"), csvpath=str(csv_dir / "metadata.csv"), views=VIEWS)
    return {"seconds": time.perf_counter() - t, "base_mb": base, "peak_mb": _rss_mb(), "images": len(ds)}


def step_query(csv_dir: Path, bank: Path) -> dict:
    import duckdb

    from covidbank.bank import Bank

    base = _rss_mb()
    b = Bank(bank)
    ours = []
    for _ in range(5):
        t = time.perf_counter()
        df = b.query(SQL)
        ours.append(time.perf_counter() - t)
    files = sorted(str(p) for p in (bank / "index" / "sources").glob("*/images.parquet"))
    peer = []
    for _ in range(5):
        t = time.perf_counter()
        con = duckdb.connect()
        con.execute(f"CREATE VIEW images AS SELECT * FROM read_parquet({files!r})")
        ref = con.execute(SQL).df()
        con.close()
        peer.append(time.perf_counter() - t)
    assert df["n"].sum() == ref["n"].sum()
    return {"seconds": statistics.median(ours), "peer_seconds": statistics.median(peer), "base_mb": base,
            "peak_mb": _rss_mb(), "rows": int(df["n"].sum()), "peer_rows": int(ref["n"].sum())}


def step_split(csv_dir: Path, bank: Path) -> dict:
    from covidbank.bank import Bank
    from covidbank.splits import write_split

    base = _rss_mb()
    t = time.perf_counter()
    res = write_split(Bank(bank), fresh=True)
    return {"seconds": time.perf_counter() - t, "base_mb": base, "peak_mb": _rss_mb(), "images": len(res.table)}


def step_dups(csv_dir: Path, bank: Path) -> dict:
    from covidbank.bank import Bank
    from covidbank.duplicates import find_duplicates

    base = _rss_mb()
    t = time.perf_counter()
    res = find_duplicates(Bank(bank))
    return {"seconds": time.perf_counter() - t, "base_mb": base, "peak_mb": _rss_mb(), "images": res.images, "groups": len(res.groups)}


def _viewer(bank: Path, cache: Path, repeat: int, build_only: bool) -> dict:
    # the viewer's default cache folder, under CACHE: the store create_app makes finds the cache built here
    # (with cache_dir= it built a second one in ~/.cache, doubling the search step's time)
    os.environ["XDG_CACHE_HOME"] = str(cache)
    from covidbank.web.store import BankStore

    base = _rss_mb()
    t = time.perf_counter()
    store = BankStore(bank)
    startup = time.perf_counter() - t
    out = {"startup_seconds": startup, "base_mb": base,
           "child_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}  # a cache built in a child
    if build_only:
        out["peak_mb"] = _rss_mb()
        return out
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from covidbank.web import create_app

    app: FastAPI = create_app(bank, cache_dir=cache / "thumbs")
    app.state.store = store
    pages = {}
    with TestClient(app) as c:
        for name, params in SEARCHES.items():
            ts = []
            for i in range(repeat + 1):
                t = time.perf_counter()
                r = c.get("/", params={**params, "per_page": 50})
                if i:  # the first one warms up
                    ts.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.status_code
            ts.sort()
            total = store.search(_query(**params)).total
            pages[name] = {"median_ms": statistics.median(ts), "p95_ms": ts[min(len(ts) - 1, round(0.95 * (len(ts) - 1)))],
                           "results": total}
    out.update(pages=pages, peak_mb=_rss_mb())
    return out


def _query(**params):
    from covidbank.web.store import SearchQuery

    kw = {k: ([v] if k in ("view", "source") else v) for k, v in params.items()}
    if "age_min" in kw:
        kw["age_min"] = float(kw["age_min"])
    return SearchQuery(**kw)


STEPS = {"add": step_add, "xrv": step_xrv, "query": step_query, "split": step_split, "dups": step_dups}


# ------------------------------------------------------------------- parent
def run_child(step: str, csv_dir: Path, bank: Path, extra: list[str] | None = None, src: Path | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src or REPO / "src"))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--step", step, "--csv", str(csv_dir), "--bank", str(bank), *(extra or [])]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if p.returncode:
        raise SystemExit(f"step {step} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def serve_startup(csv_dir: Path, bank: Path, xdg: Path, viewer_cache: bool) -> dict:
    """``covidbank add`` then ``covidbank serve`` as the user runs them, each a new process: the add's wall
    time (with the viewer's cache built at its end, or with ``--no-viewer-cache``) and the time from starting
    the server to its first search page (HTTP 200)."""
    import socket
    import urllib.request

    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), XDG_CACHE_HOME=str(xdg))
    env.pop("COVIDBANK_NO_VIEWER_CACHE", None)
    shutil.rmtree(bank, ignore_errors=True)
    shutil.rmtree(xdg, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "covidbank", "-q", "add", "cohen", str(csv_dir), "--bank", str(bank),
                    *([] if viewer_cache else ["--no-viewer-cache"])], env=env, check=True, capture_output=True)
    add_s = time.perf_counter() - t
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "covidbank", "serve", str(bank), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/?q=ground-glass", timeout=60) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit("covidbank serve exited")
                time.sleep(0.1)
        serve_s = time.perf_counter() - t
    finally:
        proc.terminate()
        proc.wait(30)
    return {"viewer_cache_at_add": viewer_cache, "add_seconds": add_s, "serve_first_page_seconds": serve_s}


def cli_startup(bank: Path, repeat: int = 3) -> tuple[float, float]:
    """Wall time of ``covidbank query`` and of the same query with DuckDB alone, as fresh processes.

    covidbank's modules are compiled to bytecode first, as ``pip install``
    does for an installed package and as DuckDB's are: with
    ``PYTHONDONTWRITEBYTECODE`` set (or a read-only checkout) every run of a
    source checkout would otherwise compile covidbank's modules again (about
    60 ms) while DuckDB's come from bytecode.
    """
    import compileall

    compileall.compile_dir(str(REPO / "src" / "covidbank"), quiet=1)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    files = sorted(str(p) for p in (bank / "index" / "sources").glob("*/images.parquet"))
    peer = f"import duckdb; duckdb.sql(\"CREATE VIEW images AS SELECT * FROM read_parquet({files!r})\"); print(duckdb.sql({SQL!r}).fetchall())"

    def wall(cmd):
        ts = []
        for _ in range(repeat):
            t = time.perf_counter()
            subprocess.run(cmd, env=env, capture_output=True, check=True)
            ts.append(time.perf_counter() - t)
        return statistics.median(ts)

    return (wall([sys.executable, "-m", "covidbank", "query", str(bank), SQL, "--format", "csv"]),
            wall([sys.executable, "-c", peer]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="10000,100000,1000000", help="comma-separated sizes (add 10000000 for 10M)")
    ap.add_argument("--work", type=Path, help="keep generated tables and banks here (reused when present)")
    ap.add_argument("--repeat", type=int, default=10, help="requests per search page")
    ap.add_argument("--peer-src", type=Path, help="another checkout's src/ whose viewer is timed on the same banks")
    ap.add_argument("--peer-max", type=int, default=100_000, help="largest bank for --peer-src (it holds the index in memory)")
    ap.add_argument("--skip", default="", help="comma-separated steps to skip (xrv, split, dups, viewer, cli, startup)")
    ap.add_argument("--plot", type=Path, help="write the curves as a PNG")
    ap.add_argument("--json", type=Path, help="write the raw figures as JSON")
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--bank", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.step:  # child process
        if args.step == "viewer":
            out = _viewer(args.bank, args.cache, args.repeat, args.build_only)
        else:
            out = STEPS[args.step](args.csv, args.bank)
        print(json.dumps(out))
        return 0

    sys.path.insert(0, str(REPO / "src"))
    from covidbank.samples import make_cohen_table

    skip = set(filter(None, args.skip.split(",")))
    sizes = [int(float(x)) for x in args.rows.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="covidbank-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"covidbank scale bench — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    results = []
    try:
        for n in sizes:
            csv_dir = work / f"cohen-{n}"
            if not (csv_dir / "metadata.csv").is_file():
                t = time.perf_counter()
                make_cohen_table(csv_dir, n)
                print(f"{n:,} rows: table generated in {time.perf_counter() - t:.1f} s", flush=True)
            bank = work / f"bank-{n}"
            shutil.rmtree(bank, ignore_errors=True)
            r: dict = {"rows": n}
            r["add"] = run_child("add", csv_dir, bank)
            if "xrv" not in skip:
                r["xrv"] = run_child("xrv", csv_dir, bank)
                if r["xrv"]["images"] != r["add"]["images"]:
                    raise SystemExit(f"{n} rows: covidbank indexed {r['add']['images']} images, torchxrayvision "
                                     f"{r['xrv']['images']}: not the same work")
            r["query"] = run_child("query", csv_dir, bank)
            if "cli" not in skip:
                r["cli"] = dict(zip(("covidbank", "duckdb"), cli_startup(bank)))
            if "split" not in skip:
                r["split"] = run_child("split", csv_dir, bank)
            if "dups" not in skip:
                r["dups"] = run_child("dups", csv_dir, bank)
            if "viewer" not in skip:
                cache = work / f"viewer-cache-{n}"
                shutil.rmtree(cache, ignore_errors=True)
                extra = ["--cache", str(cache), "--repeat", str(args.repeat)]
                r["viewer_build"] = run_child("viewer", csv_dir, bank, extra + ["--build-only"])
                r["viewer"] = run_child("viewer", csv_dir, bank, extra)
                if args.peer_src and n <= args.peer_max:
                    r["viewer_peer"] = run_child("viewer", csv_dir, bank, extra, src=args.peer_src)
            if "startup" not in skip:  # the viewer's cache built at add (this change) or by the first serve
                for at_add in (False, True):
                    r[f"startup_{'add' if at_add else 'serve'}"] = serve_startup(
                        csv_dir, work / f"bank-{n}-startup", work / f"xdg-{n}-startup", at_add)
            r["load"] = os.getloadavg()[0]
            results.append(r)
            report([r], header=len(results) == 1)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()
    print(f"load at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.plot:
        plot(results, args.plot)
        print(f"plot: {args.plot}")
    return 0


def _mem(step: dict) -> str:
    return f"{step['peak_mb'] - step['base_mb']:.0f}"


def report(results: list[dict], header: bool = True) -> None:
    """Print one block per size: time, memory above imports, memory per row, the peer and the ratio."""
    if header:
        print(f"\n{'rows':>10} {'step':<44} {'seconds':>9} {'MB':>7} {'B/row':>7} {'peer':<28} {'peer s':>8} {'ratio':>6}")
    for r in results:
        n = r["rows"]

        def line(name, sec, mb=None, peer="", psec=None, count="", n=n):
            bpr = f"{float(mb) * 1048576 / n:.0f}" if mb not in (None, "") else ""
            ratio = f"{psec / sec:.2f}" if psec else ""
            ps = f"{psec:.3f}" if psec else ""
            print(f"{n:>10,} {name + count:<44} {sec:>9.3f} {mb or '':>7} {bpr:>7} {peer:<28} {ps:>8} {ratio:>6}")

        a = r["add"]
        xr = r.get("xrv")
        line("add", a["seconds"], _mem(a), "torchxrayvision index" if xr else "", xr["seconds"] if xr else None,
             f" ({a['images']:,} images" + (f" / {xr['images']:,})" if xr else ")"))
        q = r["query"]
        line("query (in process)", q["seconds"], _mem(q), "DuckDB alone", q["peer_seconds"], f" ({q['rows']:,}/{q['peer_rows']:,} rows)")
        if "cli" in r:
            line("covidbank query (new process)", r["cli"]["covidbank"], None, "python -c 'import duckdb..'", r["cli"]["duckdb"])
        if "split" in r:
            line("split", r["split"]["seconds"], _mem(r["split"]))
        if "dups" in r:
            line("duplicates (index only)", r["dups"]["seconds"], _mem(r["dups"]))
        if "viewer" in r:
            vb, v = r["viewer_build"], r["viewer"]
            line("viewer start-up, cold (builds its cache)", vb["startup_seconds"], _mem(vb))
            if vb.get("child_peak_mb", 0) > 1:
                print(f"{n:>10,} {'  cache built in a child process, its peak MB':<44} {vb['child_peak_mb']:>9.0f}")
            line("viewer start-up, warm", v["startup_seconds"], None)
            peer = r.get("viewer_peer")
            for name, pg in v["pages"].items():
                pp = peer["pages"][name] if peer else None
                print(f"{n:>10,} {'search page ' + name + ' (' + format(pg['results'], ',') + ')':<44} "
                      f"{'p50 {:.0f} ms'.format(pg['median_ms']):>9} {'':>7} {'':>7} "
                      f"{'viewer before, p50 {:.0f} ms'.format(pp['median_ms']) if pp else '':<28} {'':>8} "
                      f"{'{:.1f}'.format(pp['median_ms'] / pg['median_ms']) if pp else '':>6}  p95 {pg['p95_ms']:.0f} ms")
            print(f"{n:>10,} {'viewer server peak memory (MB, total)':<44} {v['peak_mb']:>9.0f}"
                  + (f"   viewer before: {peer['peak_mb']:.0f} MB, start-up {peer['startup_seconds']:.1f} s" if peer else ""))
        if "startup_add" in r:
            for key, what in (("startup_serve", "cache built by serve"), ("startup_add", "cache built by add")):
                st = r[key]
                line(f"covidbank add ({what})", st["add_seconds"])
                line(f"covidbank serve to first page ({what})", st["serve_first_page_seconds"])
        print(f"{n:>10,} load average during this size: {r['load']:.2f}")


def plot(results: list[dict], path: Path) -> None:
    """Time and memory against rows, log-log, for every step (and the peers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r["rows"] for r in results]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = {
        "add": [r["add"]["seconds"] for r in results],
        "torchxrayvision index (peer of add)": [r.get("xrv", {}).get("seconds") for r in results],
        "query": [r["query"]["seconds"] for r in results],
        "DuckDB alone (peer of query)": [r["query"]["peer_seconds"] for r in results],
        "split": [r.get("split", {}).get("seconds") for r in results],
        "viewer cold start": [r.get("viewer_build", {}).get("startup_seconds") for r in results],
        "search page p95, slowest query": [max(p["p95_ms"] for p in r["viewer"]["pages"].values()) / 1000 if "viewer" in r else None
                            for r in results],
    }
    _curves(ax1, rows, series, "seconds", "time")
    mem = {
        "add": [r["add"]["peak_mb"] - r["add"]["base_mb"] for r in results],
        "torchxrayvision index (peer of add)": [(r["xrv"]["peak_mb"] - r["xrv"]["base_mb"]) if "xrv" in r else None for r in results],
        "split": [(r["split"]["peak_mb"] - r["split"]["base_mb"]) if "split" in r else None for r in results],
        "viewer server (total)": [r["viewer"]["peak_mb"] if "viewer" in r else None for r in results],
    }
    _curves(ax2, rows, mem, "peak memory, MB", "memory")
    load = max(r["load"] for r in results)
    fig.suptitle(f"covidbank at scale ({os.cpu_count()} CPUs, load average up to {load:.1f})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _curves(ax, rows: list[int], series: dict, ylabel: str, title: str) -> None:
    """Log-log curves, one per series (peers dashed), skipping sizes a step did not run at."""
    for name, ys in series.items():
        pts = [(x, y) for x, y in zip(rows, ys) if y]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=name, linestyle="--" if "peer" in name else "-")
    ax.set(xscale="log", yscale="log", xlabel="rows", ylabel=ylabel, title=title)
    ax.legend(fontsize=7)


if __name__ == "__main__":
    sys.exit(main())
