"""Peak memory of one ``covidbank ingest`` by phase (issue 20; see docs/scale.md, "Ingest memory with the number of files").

    PYTHONPATH=src python bench/ingest_memory.py RAW BANK KEY [WORKERS]

Ingests RAW into BANK (removed first; key file KEY, created when missing), sampling the process's
VmRSS every 50 ms labelled by phase (discovery, planning, run, index build), and prints VmHWM (the
peak) and the peak of each phase in KB.  Linux only (``/proc/self/status``).
"""
import sys, shutil, os, threading, time
from pathlib import Path
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
import covidbank.dicom.ingest.pipeline as P
import covidbank.dicom.discover; D = sys.modules["covidbank.dicom.discover"]
from covidbank.dicom.ingest import ingest
phase = ["start"]; peaks = {}
def rss():
    for l in open("/proc/self/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
def sampler():
    while True:
        r = rss(); p = phase[0]; peaks[p] = max(peaks.get(p, 0), r); time.sleep(0.05)
threading.Thread(target=sampler, daemon=True).start()
def wrap(mod, name, label):
    f = getattr(mod, name)
    def g(*a, **k):
        phase[0] = label
        try:
            return f(*a, **k)
        finally:
            phase[0] = label + "-done"
    setattr(mod, name, g)
wrap(D, "discover", "discover"); wrap(P, "_plan", "plan");
_r = P._run
def _run(*a, **k):
    phase[0] = "run"
    yield from _r(*a, **k)
    phase[0] = "run-done"
P._run = _run; wrap(P, "build_index", "index")
raw, bank, key = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
shutil.rmtree(bank, ignore_errors=True); shutil.rmtree(str(bank) + ".private", ignore_errors=True)
t = time.time()
s = ingest(raw, bank, key_file=key, new_key=True, workers=int(sys.argv[4]) if len(sys.argv) > 4 else 1, follow_symlinks=True,
           private_log=str(bank) + ".private/runs.jsonl", quarantine=str(bank) + ".private/q")
time.sleep(0.1)
hwm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(raw, "converted", s.converted, "wall", round(time.time() - t, 1), "VmHWM KB", hwm, "peaks KB", peaks, os.getloadavg())
