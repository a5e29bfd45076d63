"""Latency of the web viewer: search pages of 50 results, the search API, thumbnails.

Builds a bank from ``../shared/data`` (cohen + mosmed) unless ``--bank`` is given,
serves it with uvicorn on a free localhost port and times real HTTP requests
(keep-alive client, like a browser).  Prints median and 95th percentile per
request kind; the acceptance target is a search page of 50 results in < 200 ms.

For comparison it times the same search done the naive way, with
``Bank.query`` over the Parquet index on every request (what a viewer without
the in-memory index would pay), and prints the ratio.

Usage::

    PYTHONPATH=src python bench/web.py [--bank BANK] [--data ../shared/data] [--repeat 30]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

QUERIES = {
    "all records": {},
    "source=cohen": {"source": "cohen"},
    "label=Pneumonia (hierarchy)": {"label": "Pneumonia"},
    "label=Pneumonia, view=AP Supine, age>=70": {"label": "Pneumonia", "view": "AP Supine", "age_min": "70"},
    "source=mosmed, ct_grade=CT-1": {"source": "mosmed", "ct_grade": "CT-1"},
    "text 'ground glass'": {"q": "ground glass"},
}


def build_bank(data: Path, dest: Path) -> Path:
    from covidbank.bank import Bank
    from covidbank.sources import load_source

    b = Bank(dest, create=True)
    for name in ("cohen", "mosmed"):
        if (data / name).exists():
            res = load_source(name, data / name)
            b.add(name, res.all_tables(), meta=res.meta)
    return dest


def timed(fn, repeat: int) -> tuple[float, float]:
    fn()  # warm
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    ts.sort()
    return statistics.median(ts), ts[min(len(ts) - 1, int(round(0.95 * (len(ts) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bank", type=Path)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("COVIDBANK_SHARED_DATA", REPO.parent / "shared" / "data")))
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()

    import httpx
    import uvicorn

    from covidbank.bank import Bank
    from covidbank.web import create_app

    tmp = Path(tempfile.mkdtemp(prefix="covidbank-webbench-"))
    try:
        bank = args.bank or build_bank(args.data, tmp / "bank")
        t0 = time.perf_counter()
        app = create_app(bank, cache_dir=tmp / "thumbs")
        startup = (time.perf_counter() - t0) * 1000
        store = app.state.store
        n = store.search(store_query()).total
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        th = threading.Thread(target=server.run, daemon=True)
        th.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        print(f"covidbank web bench — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
              f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
        print(f"bank {bank}: {n} images, sources {', '.join(store.bank.sources())}; app startup {startup:.0f} ms")
        print(f"{'request':<64} {'results':>7} {'median ms':>10} {'p95 ms':>8}")
        worst = 0.0
        with httpx.Client(base_url=base, timeout=30) as c:
            for name, params in QUERIES.items():
                p = {**params, "per_page": 50}
                total = c.get("/api/records", params={**p, "per_page": 1}).json()["total"]

                def page(p=p):
                    r = c.get("/", params=p)
                    assert r.status_code == 200

                med, p95 = timed(page, args.repeat)
                worst = max(worst, med)
                print(f"{'search page, 50/page: ' + name:<64} {total:>7} {med:>10.1f} {p95:>8.1f}")
            med, p95 = timed(lambda: c.get("/api/records", params={"label": "Pneumonia", "per_page": 50}), args.repeat)
            print(f"{'GET /api/records label=Pneumonia per_page=50':<64} {'':>7} {med:>10.1f} {p95:>8.1f}")
            sub = store.search(store_query(file_present=True, per_page=500)).rows
            case = sub[0]["subject_id"] if sub else None
            if case:
                med, p95 = timed(lambda: c.get(f"/case/{case}"), args.repeat)
                print(f"{'case page ' + case:<64} {'':>7} {med:>10.1f} {p95:>8.1f}")
            ids = [r["image_id"] for r in sub if not r["is_volume"]][:40]
            if ids:
                cold = []
                for i in ids:
                    t = time.perf_counter()
                    c.get(f"/api/thumbnail/{i}")
                    cold.append((time.perf_counter() - t) * 1000)
                warm = []
                for i in ids:
                    t = time.perf_counter()
                    c.get(f"/api/thumbnail/{i}")
                    warm.append((time.perf_counter() - t) * 1000)
                print(f"{f'thumbnail, first request ({len(ids)} images)':<64} {'':>7} {statistics.median(cold):>10.1f} {max(cold):>8.1f}")
                print(f"{'thumbnail, cached':<64} {'':>7} {statistics.median(warm):>10.1f} {max(warm):>8.1f}")

        # the naive way: SQL over the Parquet index on every request (count + one page + labels)
        b = Bank(bank)
        sql_names = ", ".join("'" + x.lower().replace("'", "''") + "'" for x in store.label_names("Pneumonia")[0])

        def naive():
            where = f"image_id IN (SELECT image_id FROM labels WHERE lower(label) IN ({sql_names}) AND value = 1)"
            b.query(f"SELECT count(*) FROM images WHERE {where}")
            page = b.query(f"SELECT * FROM images WHERE {where} ORDER BY source, subject_id, image_id LIMIT 50")
            b.query("SELECT image_id, label FROM labels WHERE image_id IN (SELECT unnest(?))".replace("?", "['" + "','".join(page["image_id"].str.replace("'", "''")) + "']"))

        ours = timed(lambda: store.search(store_query(label="Pneumonia")), args.repeat)[0]
        base_ms = timed(naive, max(5, args.repeat // 3))[0]
        print(f"search label=Pneumonia in process: covidbank {ours:.1f} ms (with facet counts) vs "
              f"Bank.query over Parquet per request {base_ms:.1f} ms (no facets): {base_ms / ours:.1f}x faster")
        print(f"slowest search page median {worst:.1f} ms: {'meets' if worst < 200 else 'MISSES'} the < 200 ms target")
        server.should_exit = True
        th.join(timeout=10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def store_query(**kw):
    from covidbank.web.store import SearchQuery

    return SearchQuery(**kw)


if __name__ == "__main__":
    main()
