"""Build the distributional word clusters the de-identification tagger reads (covidbank/nlp/models/word_clusters.tsv).

Usage::

    PYTHONPATH=src python scripts/build_word_clusters.py [--data ../shared/data] [--out src/covidbank/nlp/models/word_clusters.tsv]

Learned from the UNLABELED text of the MEDDOCAN ``train`` split only (the ``.txt`` files; the annotations are not
read; CC BY 4.0): every token lower-cased and accent-stripped (:func:`covidbank.nlp.text.strip_accents`, so the
clusters read BIMCV's lower-cased form as well), a word-by-context count matrix over the words two either side
(the context is the word and its position: ``-1:de``), positive pointwise mutual information with the context
distribution smoothed (exponent 0.75; Levy et al. 2015), truncated SVD to :data:`DIMS` dimensions, rows scaled to
unit length, and k-means at each of :data:`GRANULARITIES` (fixed seeds).  Words seen fewer than
:data:`MIN_COUNT` times, and tokens that are not letters, get no cluster.

Deterministic: sorted documents and vocabulary, fixed seeds; the versions of numpy, scipy and scikit-learn used
are written in the file's header line.  Needs scikit-learn (``pip install 'covidbank[nlp]'``) here only; the
tagger reads the file with the standard library.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from covidbank.nlp import tagger as tg  # noqa: E402
from covidbank.nlp.text import strip_accents  # noqa: E402

#: a word needs this many occurrences in train to get a cluster
MIN_COUNT = 3
#: the contexts: the most frequent words, at each offset of :data:`OFFSETS`
CONTEXT_WORDS = 3000
OFFSETS = (-2, -1, 1, 2)
DIMS = 100
#: the numbers of clusters, coarse to fine (one column of the file each)
GRANULARITIES = (64, 256, 1024)
SEED = 16


def corpus_tokens(folder: Path) -> list[list[str]]:
    """Lower-cased, accent-stripped tokens of every line of every ``.txt`` file of ``folder`` (sorted)."""
    lines = []
    for txt in sorted(folder.glob("*.txt")):
        for line in txt.read_text(encoding="utf-8").splitlines():
            toks = [strip_accents(line[a:b].lower()) for a, b in tg.tokenize(line)]
            if toks:
                lines.append(toks)
    return lines


def build(lines: list[list[str]], min_count: int = MIN_COUNT, granularities=GRANULARITIES, dims: int = DIMS,
          seed: int = SEED) -> dict[str, tuple[int, ...]]:
    """word -> cluster id at each granularity, from tokenized lines."""
    import numpy as np
    import scipy.sparse as sp
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD

    counts = Counter(w for line in lines for w in line)
    vocab = sorted(w for w, n in counts.items() if n >= min_count and w.isalpha())
    vi = {w: i for i, w in enumerate(vocab)}
    ctx_words = sorted(counts, key=lambda w: (-counts[w], w))[:CONTEXT_WORDS]
    ci = {(o, w): k for k, (o, w) in enumerate((o, w) for o in OFFSETS for w in ctx_words)}
    pairs: Counter = Counter()
    for line in lines:
        n = len(line)
        for j, w in enumerate(line):
            i = vi.get(w)
            if i is None:
                continue
            for o in OFFSETS:
                q = j + o
                c = ci.get((o, line[q] if 0 <= q < n else "<pad>"))
                if c is not None:
                    pairs[i, c] += 1
    rows, cols = zip(*pairs)
    M = sp.csr_matrix((np.fromiter(pairs.values(), dtype=np.float64), (rows, cols)), shape=(len(vocab), len(ci)))
    total = M.sum()
    pw = np.asarray(M.sum(axis=1)).ravel() / total
    pc = np.asarray(M.sum(axis=0)).ravel() ** 0.75
    pc /= pc.sum()
    M = M.tocoo()
    pmi = np.log(M.data / total / (pw[M.row] * pc[M.col]))
    keep = pmi > 0
    P = sp.csr_matrix((pmi[keep], (M.row[keep], M.col[keep])), shape=M.shape)
    X = TruncatedSVD(n_components=dims, algorithm="arpack", random_state=seed).fit_transform(P)
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    ids = [KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(X) for k in granularities]
    return {w: tuple(int(c[i]) for c in ids) for i, w in enumerate(vocab)}


def main() -> None:
    import numpy
    import scipy
    import sklearn

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=tg.CLUSTERS_PATH)
    args = ap.parse_args()
    t0 = time.time()
    lines = corpus_tokens(args.data / "reports" / "meddocan" / "train" / "brat")
    clusters = build(lines)
    header = (f"# word clusters of covidbank.nlp.tagger: MEDDOCAN train text (CC BY 4.0), PPMI +-2, SVD {DIMS},"
              f" k-means {'/'.join(map(str, GRANULARITIES))}, min count {MIN_COUNT}, seed {SEED};"
              f" numpy {numpy.__version__} scipy {scipy.__version__} scikit-learn {sklearn.__version__};"
              f" scripts/build_word_clusters.py\n")
    with args.out.open("w", encoding="utf-8", newline="\n") as f:
        f.write(header)
        for w in sorted(clusters):
            f.write(w + "\t" + "\t".join(map(str, clusters[w])) + "\n")
    print(f"{len(clusters)} words from {sum(map(len, lines))} tokens in {time.time() - t0:.0f} s;"
          f" {args.out} {args.out.stat().st_size / 1e3:.0f} KB")


if __name__ == "__main__":
    main()
