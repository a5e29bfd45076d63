"""Source tables with a row one field longer than the header (generated from the samples, never real data)."""
from __future__ import annotations

import csv
import re
from pathlib import Path

#: The error the C parser gives for a row longer than the header, shown in a SourceFormatError (the line is group 1).
LONG_ROW = re.compile(r"ParserError: Error tokenizing data\. C error: Expected \d+ fields in line (\d+), saw \d+")


def with_extra_field(src: Path, dst: Path, row: int, sep: str = ",", encoding: str = "utf-8") -> int:
    """Copy the table ``src`` to ``dst`` with one more field (``extra``) on data row ``row`` (0 is the first).

    Returns the line of ``dst`` that row starts on (1 is the header).
    """
    with open(src, newline="", encoding=encoding) as f:
        rows = list(csv.reader(f, delimiter=sep))
    rows[row + 1] = rows[row + 1] + ["extra"]
    with open(dst, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f, delimiter=sep, lineterminator="\n")
        w.writerow(rows[0])
        w.writerows(rows[1:])
    return 2 + sum(1 + sum(cell.count("\n") for cell in r) for r in rows[1:row + 1])
