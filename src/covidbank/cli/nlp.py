"""CLI commands of the reports feature: ``deid-text``, ``label-reports`` and ``train-labeler``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``deid-text``, ``label-reports`` and ``train-labeler`` to the covidbank CLI."""

    @app.command("deid-text")
    def deid_text(
        input: Path = typer.Argument(..., help="TSV/CSV table or plain-text file."),
        out: Path = typer.Option(..., "--out", "-o", help="Output file (same format as the input)."),
        text_column: Optional[str] = typer.Option(None, "--text-column", "-c", help="Column holding the text (tables)."),
        surrogates: bool = typer.Option(False, "--surrogates", help="Consistent surrogates instead of [CATEGORY] placeholders."),
        patient_column: Optional[str] = typer.Option(None, "--patient-column", help="Column with the patient key (surrogates are consistent per patient)."),
        shift_days: Optional[int] = typer.Option(None, "--shift-days", help="Shift every date by this many days (with --surrogates)."),
        spans: Optional[Path] = typer.Option(None, "--spans", help="Side file of spans found (JSON lines: row, start, end, category, type; never the text). Default: OUT.spans.jsonl"),
    ) -> None:
        """De-identify report text: names, addresses, places, numbers, dates, institutions."""
        from ..errors import CovidbankError
        from ..nlp.tables import deid_frame, read_table, write_spans, write_table
        from . import console, fail

        try:
            df, kind = read_table(input, text_column)
            col = text_column if kind != "text" else "text"
            if kind != "text" and not col:
                raise fail(f"{input}: a table needs --text-column", 2)
            if patient_column and patient_column not in df.columns:
                raise fail(f"{input}: no column {patient_column!r} for --patient-column", 2)
            shifts = None
            if surrogates and shift_days is not None:
                keys = df[patient_column].astype(str).tolist() if patient_column else [""]
                shifts = {k: shift_days for k in keys}
            new, found = deid_frame(df, col, surrogate=surrogates, patient_column=patient_column, shift_days=shifts)
            write_table(new, out, kind)
            write_spans(found, spans or out.with_name(out.name + ".spans.jsonl"))
        except CovidbankError as e:
            raise fail(str(e))
        from collections import Counter

        c = Counter(s["category"] for s in found)
        console.print(f"{len(df)} text(s), {len(found)} span(s) replaced: "
                      + ", ".join(f"{k} {v}" for k, v in sorted(c.items())), highlight=False)

    @app.command("label-reports")
    def label_reports(
        input: Path = typer.Argument(..., help="TSV/CSV table of reports or a plain-text report."),
        out: Path = typer.Option(..., "--out", "-o", help="Output table (BIMCV columns added), or .parquet for bank label rows."),
        text_column: str = typer.Option("Report", "--text-column", "-c", help="Column holding the report."),
        bank_rows: bool = typer.Option(False, "--bank-rows", help="Write rows of the bank's labels table instead (needs --image-column)."),
        image_column: Optional[str] = typer.Option(None, "--image-column", help="Column with the image id (for --bank-rows)."),
        source: str = typer.Option("reports", "--source", help="Source name for --bank-rows."),
        model: Optional[Path] = typer.Option(None, "--model", help="Sentence model file (covidbank train-labeler). "
                                             "Default: $COVIDBANK_LABELER_MODEL or ~/.local/share/covidbank/models/"
                                             "report-sentences.npz when there is one."),
        rules_only: bool = typer.Option(False, "--rules-only", help="Use the rules alone, no sentence model."),
    ) -> None:
        """Label findings with PadChest labels and UMLS CUIs, with negation, uncertainty and locations."""
        from ..errors import CovidbankError
        from ..nlp.tables import (
            label_frame,
            labels_to_bank_rows,
            read_table,
            write_table,
        )
        from ..progress import ProgressBar
        from . import console, fail

        try:
            df, kind = read_table(input, text_column if not str(input).lower().endswith(".txt") else None)
            col = text_column if kind != "text" else "text"
            from ..nlp.labeler import ReportLabeler

            labeler = ReportLabeler(model=None if rules_only else (model or "auto"))
            _ = labeler.model  # a bad model file fails here, before any work
            with ProgressBar("labeling", len(df), transient=True) as bar:
                new, results = label_frame(df, col, labeler=labeler, progress=bar.advance)
            if bank_rows:
                if not image_column or image_column not in df.columns:
                    raise fail(f"{input}: --bank-rows needs --image-column naming an existing column", 2)
                from ..schema import make_id

                # bank image ids are source-prefixed ("bimcv:<file>"); a column of bare file names gets the prefix
                ids = [i if i.startswith(f"{source}:") else make_id(source, i) for i in df[image_column].astype(str)]
                rows = labels_to_bank_rows(results, ids, source)
                from ..fileio import atomic_path

                with atomic_path(out) as tmp:
                    if out.suffix == ".parquet":
                        rows.to_parquet(tmp, index=False)
                    else:
                        rows.to_csv(tmp, sep="\t", index=False)
                console.print(f"{len(df)} report(s), {len(rows)} label row(s)", highlight=False)
                return
            write_table(new, out, "tsv" if kind == "text" else kind)
        except CovidbankError as e:
            raise fail(str(e))
        n_pos = sum(1 for r in results if r.labels not in (["normal"], ["exclude"]))
        console.print(f"{len(df)} report(s) labeled, {n_pos} with findings", highlight=False)

    @app.command("train-labeler")
    def train_labeler(
        table: Path = typer.Argument(..., help="Your copy of the BIMCV COVID-19+ image table (TSV with Subject, Report, "
                                                "Labels, LabelsLocalizationsBySentence)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Model file to write (default: "
                                           "$COVIDBANK_LABELER_MODEL or ~/.local/share/covidbank/models/report-sentences.npz)."),
        all_subjects: bool = typer.Option(False, "--all-subjects", help="Train on every subject (no held-out figure); "
                                          "default: the rules part of the subject split, so the validation part measures it."),
        seed: int = typer.Option(17, "--seed", help="Seed of the solver and of the cross-validation folds."),
        as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    ) -> None:
        """Build the report labeler's sentence model from your copy of the BIMCV table (no model ships with covidbank).

        Trains one logistic regression per label on the per-sentence reference labels, chooses by 5-fold
        cross-validation by subject which labels the model decides, writes a pickle-free .npz and prints the
        agreement of the rules alone and of rules + model on the validation part (subjects not trained on).
        Needs scikit-learn (pip install 'covidbank[nlp]'); a few minutes on one core.
        """
        import json as _json
        import time

        from ..errors import CovidbankError
        from ..nlp.model import default_model_path
        from ..progress import ProgressBar
        from . import console, fail, out as stdout

        dest = out or default_model_path()
        if dest is None:
            raise fail("COVIDBANK_LABELER_MODEL is 'none': pass --out", 2)
        try:
            from ..nlp.evaluation import agreement_figures
            from ..nlp.training import build_model

            t0 = time.process_time()
            with ProgressBar("cross-validating (5 folds)", 5, transient=True) as bar:
                model, parts = build_model(table, dest, seed=seed, all_subjects=all_subjects, progress=bar.advance)
            cpu = time.process_time() - t0
            figures = {} if all_subjects else agreement_figures(parts, model)
        except CovidbankError as e:
            raise fail(str(e))
        result = {"model": str(dest), "labels": model.labels, "sentences": model.meta["sentences"],
                  "features": len(model.features), "cpu_seconds": round(cpu, 1), "validation": figures}
        if as_json:
            stdout.print_json(_json.dumps(result))
            return
        console.print(f"model written to {dest}: {len(model.labels)} labels decided by the model, "
                      f"{len(model.features)} features, {model.meta['sentences']} training sentences, "
                      f"{cpu:.0f} s CPU", highlight=False)
        for name, f in figures.items():
            console.print(f"validation part, {name}: micro-F1 {f['micro_f1']:.3f}, macro-F1 {f['macro_f1']:.3f}, "
                          f"COVID 19 F1 {f['covid_f1']:.3f}, COVID 19 uncertain F1 {f['covid_uncertain_f1']:.3f}",
                          highlight=False)
