"""The command line: each command loads config, calls one library function, prints.

Prefect is imported only by the commands that run flows (it costs ~2 s to import).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .calibrate import C_CAL, C_TEXT, SOLO_THRESHOLD
from .errors import AccessWatchError
from .roles import C_ROLES

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="accesswatch: watch the news for API access disputes between AI vendors.")
console = Console()
err_console = Console(stderr=True)


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config directory (default: config/ "
                                                "or $ACCESSWATCH_CONFIG_DIR).")]
DbOpt = Annotated[Path | None, typer.Option("--db", help="DuckDB file (default: database.path from config).")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


def prefect_env(data_dir: Path = Path("data")) -> None:
    """Defaults for Prefect, set before it is imported: a project-local PREFECT_HOME, no
    analytics (machines here have no internet) and a generous start-up timeout for the
    temporary local API server."""
    from .serve import prefect_defaults

    prefect_defaults(data_dir)


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.hex()
    return v


def emit(cols: list[str], rows: list[tuple[Any, ...]], fmt: Format, title: str | None = None,
         output: Path | None = None) -> None:
    """Print rows as a table, CSV or JSON lines, or write Parquet (shared by every listing command)."""
    if fmt is Format.parquet:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if output is None:
            _fail(AccessWatchError("--format parquet needs --output FILE"))
        table = pa.Table.from_pylist([dict(zip(cols, r, strict=True)) for r in rows]) if rows else pa.table(
            {c: pa.array([], pa.string()) for c in cols})
        pq.write_table(table, output)
        err_console.print(f"wrote {len(rows)} rows to {output}")
        return
    if fmt is Format.json:
        for r in rows:
            sys.stdout.write(json.dumps({c: _jsonable(v) for c, v in zip(cols, r, strict=True)},
                                        ensure_ascii=False, default=str) + "\n")
    elif fmt is Format.csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        w.writerows([[_jsonable(v) for v in r] for r in rows])
        sys.stdout.write(buf.getvalue())
    else:
        t = Table(title=title, show_lines=False)
        for c in cols:
            t.add_column(c, overflow="fold")
        for r in rows:
            t.add_row(*["" if v is None else str(_jsonable(v)) for v in r])
        console.print(t)


def _fail(e: Exception) -> None:
    err_console.print(f"[red]error:[/red] {e}", markup=True, highlight=False)
    raise typer.Exit(2)


def _store(config: Path | None, db: Path | None):  # -> Store
    from .config import load_settings, resolve_config_dir
    from .store import Store

    cdir = resolve_config_dir(config)
    settings = load_settings(cdir) if (cdir / "accesswatch.toml").exists() else None
    path = db or Path(settings.database.path if settings else "data/accesswatch.duckdb")
    return Store(path, settings.database.lock_timeout_seconds if settings else 30)


@app.command()
def run(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Run the monitor flow once over the configured feeds.

    Example: accesswatch run --config config --db data/accesswatch.duckdb
    """
    try:
        from .config import load_config

        load_config(config, db)  # fail fast, before Prefect starts, on a bad config
        prefect_env()
        from flows.monitor import monitor

        result = monitor(config_dir=str(config) if config else None, db_path=str(db) if db else None)
    except AccessWatchError as e:
        _fail(e)
    console.print(result["summary"], highlight=False)


@app.command()
def serve(config: ConfigOpt = None, db: DbOpt = None,
          interval: Annotated[float | None, typer.Option(help="Minutes between runs (default: "
                                                         "schedule.interval_minutes).")] = None,
          cron: Annotated[str | None, typer.Option(help="A cron schedule instead, e.g. '*/15 * * * *'.")] = None,
          ) -> None:
    """Run the monitor flow on a schedule, never two runs at once. Starts a local Prefect
    server (UI address printed) unless PREFECT_API_URL is set; Ctrl-C or SIGTERM stops both.

    Example: accesswatch serve --interval 30
    """
    prefect_env()
    from .serve import serve as serve_flow

    try:
        serve_flow(str(config) if config else None, str(db) if db else None, interval, cron)
    except AccessWatchError as e:
        _fail(e)


@app.command()
def demo(config: ConfigOpt = None,
         db: Annotated[Path, typer.Option("--db", help="DuckDB file for the demo.")] = Path("data/demo.duckdb"),
         port: Annotated[int, typer.Option(help="Preferred port for the sample site (a free one if taken).")] = 8765,
         ) -> None:
    """Serve the bundled sample news site on 127.0.0.1 and run the real flow over it.

    Example: accesswatch demo --db data/demo.duckdb
    """
    from . import demo as demo_site
    from .config import resolve_config_dir

    cdir = resolve_config_dir(config)
    if not (cdir / "vendors.toml").exists():
        _fail(AccessWatchError(f"{cdir}/vendors.toml not found: run the demo from the project directory "
                               "or pass --config"))
    prefect_env()
    with demo_site.serve_site(port) as base:
        port_used = int(base.rsplit(":", 1)[1])
        if port_used != port:
            err_console.print(f"note: port {port} is taken; the site runs on {port_used}, so its article "
                              "URLs differ from earlier demo runs")
        demo_cfg = demo_site.write_demo_config(cdir, Path("data/demo-config"), base)
        os.environ["ACCESSWATCH_HTTP_ALLOWED_PRIVATE_HOSTS"] = json.dumps([f"127.0.0.1:{port_used}"])
        console.print(f"Sample news site on {base}; running the monitor flow into {db} ...")
        try:
            from flows.monitor import monitor

            result = monitor(config_dir=str(demo_cfg), db_path=str(db))
        except AccessWatchError as e:
            _fail(e)
    from .store import Store

    store = Store(db)
    console.print()
    console.rule("Run summary")
    console.print(result["summary"], highlight=False)
    counts = store.counts()
    console.print(f"Database {db}: {counts['articles']} articles, {counts['detections']} detections, "
                  f"{counts['runs']} runs.", highlight=False)
    disputes, (cols, rows) = store.demo_summary()
    console.rule(f"{len(rows)} stories from {disputes} dispute articles")
    emit(cols, rows, Format.table)
    console.rule("Try")
    console.print(f'.venv/bin/accesswatch query --db {db} "SELECT actor, target, action, title FROM recent_disputes"\n'
                  f'.venv/bin/accesswatch status --db {db}', highlight=False)


OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="File for --format parquet.")]


@app.command()
def query(sql: Annotated[str, typer.Argument(help="SQL to run (read-only).")],
          config: ConfigOpt = None, db: DbOpt = None, format: FormatOpt = Format.table,
          output: OutputOpt = None) -> None:
    """Run read-only SQL against the database (waits briefly if a run is writing).

    Example: accesswatch query "SELECT actor, target, action, title FROM recent_disputes" --format csv
    """
    try:
        cols, rows = _store(config, db).query(sql)
    except AccessWatchError as e:
        _fail(e)
    except Exception as e:  # duckdb errors: show them plainly
        _fail(AccessWatchError(f"{type(e).__name__}: {e}"))
    emit(cols, rows, format, output=output)


def _since(value: str) -> timedelta:
    """'7d', '12h', '30m' -> a timedelta."""
    import re

    m = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", value)
    if not m:
        raise typer.BadParameter("use a number and d, h or m, e.g. 7d or 12h")
    return timedelta(**{dict(d="days", h="hours", m="minutes")[m.group(2)]: int(m.group(1))})


@app.command()
def stories(since: Annotated[str, typer.Option(help="How far back: 7d, 24h, 90m.")] = "7d",
            vendor: Annotated[str | None, typer.Option(help="Only stories naming this vendor (actor or target).")] = None,
            config: ConfigOpt = None, db: DbOpt = None, format: FormatOpt = Format.table,
            output: OutputOpt = None) -> None:
    """Recent stories (one row per event), newest first.

    Example: accesswatch stories --since 30d --vendor Anthropic
    """
    try:
        cols, rows = _store(config, db).recent_stories(_since(since), vendor)
    except AccessWatchError as e:
        _fail(e)
    emit(cols, rows, format, title=f"stories since {since}", output=output)


@app.command()
def export(out_dir: Annotated[Path, typer.Argument(help="Directory for the Parquet files.")],
           config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Write every table as Parquet (one file per table).

    Example: accesswatch export exports/2026-11-26
    """
    try:
        counts = _store(config, db).export(out_dir)
    except AccessWatchError as e:
        _fail(e)
    emit(["table", "rows", "file"], [(t, n, str(out_dir / f"{t}.parquet")) for t, n in counts.items()], Format.table)


class LabelChoice(str, Enum):
    positive = "positive"
    negative = "negative"
    borderline = "borderline"


@app.command()
def label(article_id: Annotated[str, typer.Argument(help="The article_id (see recent_disputes).")],
          verdict: Annotated[LabelChoice, typer.Argument(help="positive, negative or borderline.")],
          actor: Annotated[str | None, typer.Option(help="Who acted (canonical vendor name).")] = None,
          target: Annotated[str | None, typer.Option(help="Whose access (canonical vendor name).")] = None,
          action: Annotated[str | None, typer.Option(help="revoke, suspend, restrict, block, threaten, "
                                                     "probe, complain or restore.")] = None,
          note: Annotated[str | None, typer.Option(help="Free text.")] = None,
          config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Store your correction of the detector for one article (used by eval --from-db).

    Example: accesswatch label 3f2a9c0d1e2b4a5c negative --note "outage, not a cut-off"
    """
    from datetime import UTC, datetime

    try:
        _store(config, db).save_label(article_id, verdict.value, actor, target, action, note, datetime.now(UTC))
    except AccessWatchError as e:
        _fail(e)
    console.print(f"labelled {article_id} as {verdict.value}", highlight=False)


@app.command()
def redetect(config: ConfigOpt = None, db: DbOpt = None,
             batch: Annotated[int, typer.Option(help="Articles per batch.")] = 500) -> None:
    """Run the current detector over every stored article (after a detector change), with a
    progress bar; stores a detection per article for this detector version, then regroups stories.

    Example: accesswatch redetect --db data/accesswatch.duckdb
    """
    from datetime import UTC, datetime

    from rich.progress import Progress

    from .config import load_settings, resolve_config_dir
    from .detect import DETECTOR_VERSION, detect_articles, load_gazetteer
    from .stories import update_stories

    try:
        cdir = resolve_config_dir(config)
        settings = load_settings(cdir)
        gaz = load_gazetteer(cdir / "vendors.toml")
        store = _store(config, db)
        total = store.article_count()
    except AccessWatchError as e:
        _fail(e)
    disputes = 0
    now = datetime.now(UTC)
    with Progress(console=err_console, transient=False) as progress:
        task = progress.add_task(f"detector {DETECTOR_VERSION}", total=total)
        for rows in store.iter_articles(batch):
            dets = detect_articles(rows, gaz, settings.detect.threshold)
            store.save_detections(dets, now)
            disputes += sum(d.is_dispute for _, d in dets)
            progress.advance(task, len(rows))
    changes = update_stories(store, settings.alerts, now)
    console.print(f"{total} articles re-detected with {DETECTOR_VERSION}: {disputes} disputes; "
                  f"{sum(c.new for c in changes)} new stories (their alerts go out with the next run).",
                  highlight=False)



@app.command()
def status(config: ConfigOpt = None, db: DbOpt = None, format: FormatOpt = Format.table,
           runs: Annotated[int, typer.Option(help="How many recent runs to show.")] = 5) -> None:
    """Feed health (last success, failures, last error) and the last runs.

    Example: accesswatch status --runs 10
    """
    try:
        parts = _store(config, db).status(runs)
    except AccessWatchError as e:
        _fail(e)
    for name, (cols, rows) in parts.items():
        emit(cols, rows, format, title=name)


@app.command(name="detect")
def detect_cmd(file: Annotated[Path | None, typer.Argument(help="JSON lines (id, title, text); default stdin.")] = None,
               config: ConfigOpt = None) -> None:
    """Run the detector over JSON lines and print one JSON line per input.

    Example: echo '{"id": 1, "title": "Anthropic cuts off OpenAI", "text": "..."}' | accesswatch detect
    """
    from .config import load_settings, resolve_config_dir
    from .detect import load_gazetteer, run_jsonl

    try:
        cdir = resolve_config_dir(config)
        gaz = load_gazetteer(cdir / "vendors.toml")
        threshold = load_settings(cdir).detect.threshold if (cdir / "accesswatch.toml").exists() else 0.5
    except AccessWatchError as e:
        _fail(e)
    stream = file.open(encoding="utf-8", errors="replace") if file else sys.stdin
    with stream:
        for line in run_jsonl(stream, gaz, threshold):
            sys.stdout.write(line + "\n")


class Split(str, Enum):
    dev = "dev"
    test = "test"
    blind = "blind"
    labelled = "labelled"  # dev + test: everything but the blind sets
    all = "all"


def _in_split(rec: dict[str, Any], split: Split) -> bool:
    if split is Split.all:
        return True
    if split is Split.labelled:
        return rec["split"] != "blind"
    return rec["split"] == split.value


@app.command(name="eval")
def eval_cmd(files: Annotated[list[Path] | None, typer.Argument(help="Labelled JSON lines files or directories.")] = None,
             from_db: Annotated[bool, typer.Option("--from-db", help="Score against the labels stored with "
                                                   "`accesswatch label` instead of files.")] = False,
             db: DbOpt = None,
             config: ConfigOpt = None,
             split: Annotated[Split, typer.Option(help="Which side of the by-event split to score.")] = Split.all,
             errors: Annotated[bool, typer.Option("--errors/--no-errors", help="List every error.")] = True,
             json_out: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
             rules_only: Annotated[bool, typer.Option("--rules-only", help="Score the rules without the "
                                                      "calibration model.")] = False) -> None:
    """Score the detector on labelled articles: precision, recall, F1, roles, by kind.

    Example: accesswatch eval tests/data/detect --split test   (or: accesswatch eval --from-db)
    """
    from .config import load_settings, resolve_config_dir
    from .detect import SHIPPED, load_gazetteer
    from .evaluate import evaluate, load_labelled

    try:
        cdir = resolve_config_dir(config)
        gaz = load_gazetteer(cdir / "vendors.toml")
        threshold = load_settings(cdir).detect.threshold if (cdir / "accesswatch.toml").exists() else 0.5
        if from_db:
            records = _store(config, db).labelled_articles()
            if not records:
                _fail(AccessWatchError("no labels stored yet: add some with `accesswatch label`"))
        elif files:
            records = load_labelled(files)
        else:
            _fail(AccessWatchError("give labelled files or --from-db"))
    except (AccessWatchError, OSError, ValueError) as e:
        _fail(e if isinstance(e, AccessWatchError) else AccessWatchError(str(e)))
    if not from_db:
        records = [r for r in records if _in_split(r, split)]
    if not records:
        _fail(AccessWatchError(f"no labelled articles in the {split.value} split"))
    rep = evaluate(records, gaz, threshold, model=None if rules_only else SHIPPED)
    if json_out:
        sys.stdout.write(json.dumps({**rep.as_dict(), "errors": rep.errors}, ensure_ascii=False) + "\n")
        return
    d = rep.as_dict()
    console.print(f"{d['n']} articles ({split.value}): precision {d['precision']:.3f}  recall {d['recall']:.3f}  "
                  f"F1 {d['f1']:.3f}   (tp {d['tp']}, fp {d['fp']}, fn {d['fn']}, tn {d['tn']})", highlight=False)
    console.print(f"roles on true positives: actor {d['actor_accuracy']}, target {d['target_accuracy']}, "
                  f"both {d['actor_target_accuracy']}", highlight=False)
    console.print(f"borderline articles labelled as: {d['borderline']}", highlight=False)
    kinds = sorted(rep.by_kind)
    emit(["kind", "positive", "borderline", "negative"],
         [(k, rep.by_kind[k]["positive"], rep.by_kind[k]["borderline"], rep.by_kind[k]["negative"]) for k in kinds],
         Format.table, title="predicted label by kind")
    if errors:
        for e in rep.errors:
            console.print(f"- {e['id']} [{e['error']}] {e['kind']}: {e['title']!r}\n  expected {e['expected']}\n"
                          f"  got {e['got']}\n  evidence: {e['evidence'][:2]}", highlight=False, markup=False)


@app.command(name="train-detector")
def train_detector(files: Annotated[list[Path] | None, typer.Argument(help="Labelled JSON lines files or directories.")] = None,
                   split: Annotated[Split, typer.Option(help="Train on these records (labelled = dev + test; "
                                                        "the blind sets are never trained on).")] = Split.labelled,
                   c: Annotated[float, typer.Option("--c", help="Inverse L2 strength of the calibration model.")] = C_CAL,
                   c_text: Annotated[float, typer.Option("--c-text", help="Inverse L2 strength of the word model.")] = C_TEXT,
                   solo: Annotated[float, typer.Option("--solo", help="Word-model probability that makes a positive "
                                                       "the rules did not find.")] = SOLO_THRESHOLD,
                   c_roles: Annotated[float, typer.Option("--c-roles", help="Inverse L2 strength of the role model "
                                                          "(0: no role model).")] = C_ROLES,
                   out: Annotated[Path | None, typer.Option("-o", "--out", help="Where to write the model "
                                                            "(default: the package's shipped model).")] = None,
                   config: ConfigOpt = None,
                   cv: Annotated[bool, typer.Option("--cv/--no-cv", help="First print scores cross-validated by "
                                                    "event on the training records.")] = True) -> None:
    """Train the detector's learned stage (word model + calibration) on labelled articles
    (needs scipy and scikit-learn: the dev extra).

    Example: accesswatch train-detector tests/data/detect   (then: accesswatch eval tests/data/detect --split test)
    """
    from .calibrate import model_path
    from .config import resolve_config_dir
    from .detect import load_gazetteer
    from .evaluate import cross_validate, load_labelled, train_model, training_rows

    try:
        gaz = load_gazetteer(resolve_config_dir(config) / "vendors.toml")
        records = load_labelled(files or [Path("tests/data/detect")])
    except (AccessWatchError, OSError, ValueError) as e:
        _fail(e if isinstance(e, AccessWatchError) else AccessWatchError(str(e)))
    records = [r for r in records if _in_split(r, split) and r["split"] != "blind"]
    if not records:
        _fail(AccessWatchError(f"no labelled records in the {split.value} split"))
    rows = training_rows(records, gaz)  # the rules and the tokenizer run once per record
    if cv:
        d = cross_validate(records, gaz, c, rows=rows, c_text=c_text, solo=solo,
                           c_roles=c_roles).as_dict()
        console.print(f"cross-validated by event ({len(records)} records): precision {d['precision']:.3f}  "
                      f"recall {d['recall']:.3f}  F1 {d['f1']:.3f}  actor+target {d['actor_target_accuracy']}",
                      highlight=False)
    model = train_model(records, gaz, c, rows, c_text=c_text, solo=solo, c_roles=c_roles)
    target = out or model_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(model.to_json() + "\n", encoding="utf-8")
    console.print(f"model {model.meta['id']} ({len(model.weights)} weights, {len(model.ngrams)} n-grams, "
                  f"{len(model.roles)} role features; calibrated on "
                  f"{model.meta['trained_on']} "
                  f"articles with rule evidence) written to {target}", highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
