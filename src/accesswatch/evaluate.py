"""Measure the detector against labelled articles (``accesswatch eval``).

Three splits: ``dev`` (tuned on), ``test`` (held out by event; used for error analysis of
classes, not of single articles) and ``blind`` (``blind*.jsonl``, written separately and
never read by the detector's authors).

Labelled files are JSON lines with ``label`` (positive/borderline/negative), ``actor``,
``target``, ``action``, ``kind`` and ``event``. The dev/test split is by event, so that
articles about one event never sit on both sides: :func:`split_of`.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .calibrate import (
    C_TEXT,
    SOLO_THRESHOLD,
    Model,
    data_fingerprint,
    fit,
    fit_ngrams,
    ngram_logit,
    text_feature,
)
from .detect import SHIPPED, article_tokens, detect, role_candidates, rule_features
from .roles import C_ROLES
from .roles import fit as fit_roles
from .vendors import Gazetteer

TEST_SHARE = 30  # percent of events held out
_PAREN = re.compile(r"\s*\([^)]*\)\s*$")


def split_of(event: str | None, record_id: str = "") -> str:
    """'test' for about 30% of events (stable hash of the event id), else 'dev'."""
    key = event or record_id
    return "test" if zlib.crc32(key.encode("utf-8")) % 100 < TEST_SHARE else "dev"


def load_labelled(paths: Iterable[Path]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in paths:
        files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
        for f in files:
            for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    rec = json.loads(line)
                    # blind*.jsonl: written by someone who never saw the detector, never tuned on
                    default = "blind" if f.name.startswith("blind") else split_of(
                        rec.get("event"), rec.get("id", f"{f.name}:{n}"))
                    rec.setdefault("split", default)
                    out.append(rec)
    return out


@dataclass
class Report:
    n: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    roles_checked: int = 0
    actor_ok: int = 0
    target_ok: int = 0
    both_ok: int = 0
    borderline: Counter[str] = field(default_factory=Counter)
    by_kind: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
                "precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "actor_accuracy": round(self.actor_ok / self.roles_checked, 4) if self.roles_checked else None,
                "target_accuracy": round(self.target_ok / self.roles_checked, 4) if self.roles_checked else None,
                "actor_target_accuracy": round(self.both_ok / self.roles_checked, 4) if self.roles_checked else None,
                "borderline": dict(self.borderline)}


def evaluate(records: list[dict[str, Any]], gazetteer: Gazetteer, threshold: float = 0.5,
             model: Model | None = SHIPPED) -> Report:
    """Positives are the positive class; borderline records are reported apart (how the
    detector labelled them) and count as neither a hit nor a miss."""
    rep = Report()
    for rec in records:
        d = detect(rec.get("title"), rec.get("text"), gazetteer, threshold, model)
        want = rec["label"]
        rep.n += 1
        rep.by_kind[rec.get("kind") or want][d.label] += 1
        if want == "borderline":
            rep.borderline[d.label] += 1
            continue
        got = d.label == "positive"
        err = None
        if want == "positive" and got:
            rep.tp += 1
            rep.roles_checked += 1
            a_ok = _same(rec.get("actor"), d.actor, gazetteer)
            t_ok = rec.get("target") is None or any(_same(t, d.target, gazetteer) for t in _targets(rec))
            rep.actor_ok += a_ok
            rep.target_ok += t_ok
            rep.both_ok += a_ok and t_ok
            if not (a_ok and t_ok):
                err = "roles"
        elif want == "positive":
            rep.fn += 1
            err = "missed"
        elif got:
            rep.fp += 1
            err = "false positive"
        else:
            rep.tn += 1
        if err:
            rep.errors.append({"id": rec.get("id"), "error": err, "kind": rec.get("kind"),
                               "expected": {k: rec.get(k) for k in ("label", "actor", "target", "action")},
                               "got": {"label": d.label, "score": d.score, "actor": d.actor, "target": d.target,
                                       "action": d.action},
                               "title": rec.get("title"), "evidence": list(d.evidence)})
    return rep


def _targets(rec: dict[str, Any]) -> list[str | None]:
    """The labelled target, then the other named targets of the same move (the guide's
    "other_targets": a report that accuses three labs is right about any of them)."""
    return [rec.get("target"), *(rec.get("other_targets") or [])]


def _same(want: str | None, got: str | None, gazetteer: Gazetteer) -> bool:
    """Canonical names must match; a company unknown to the gazetteer matches by its first
    words ("Quillmark" for "Quillmark Labs")."""
    if want is None:
        return got is None
    if got is None:
        return False
    want = _PAREN.sub("", want)  # the guide's "Windsurf (Codeium)" is Windsurf
    w, g = gazetteer.canonical(want) or want, gazetteer.canonical(got) or got
    if w == g:
        return True
    if gazetteer.canonical(want) is None and gazetteer.canonical(got) is None:
        return w.startswith(g + " ") or g.startswith(w + " ")
    return False


# ------------------------------------------------------------------ the calibration model
@dataclass(frozen=True)
class Row:
    """One training record as the learned stage sees it."""

    rec: dict[str, Any]
    feats: dict[str, float] | None  # the rules' view; None when they found no actor
    tokens: set[str]  # the word model's input
    roles: list[Any]  # the role stage's candidates (pair, features), computed as if a positive


def _fold_of(rec: dict[str, Any], folds: int) -> int:
    return zlib.crc32(str(rec.get("event") or rec.get("id") or "").encode()) % folds


def training_rows(records: list[dict[str, Any]], gazetteer: Gazetteer) -> list[Row]:
    """The rules and the tokenizer run once per record (cross-validation reuses the rows)."""
    return [Row(rec, rule_features(rec.get("title"), rec.get("text"), gazetteer),
                article_tokens(rec.get("title"), rec.get("text"), gazetteer),
                role_candidates(rec.get("title"), rec.get("text"), gazetteer) if rec["label"] == "positive" else [])
            for rec in records]


def _role_model(rows: list[Row], gazetteer: Gazetteer, c_roles: float) -> dict[str, float]:
    """The role model, fitted on the positives whose labelled pair is among the candidates."""
    groups, gold = [], []
    for r in rows:
        actor, targets = r.rec.get("actor"), _targets(r.rec)
        if not r.roles or actor is None or targets[0] is None:
            continue
        hit = next((i for want in targets for i, ((a, t), _) in enumerate(r.roles)
                    if _same(actor, a, gazetteer) and _same(want, t, gazetteer)), None)
        if hit is not None:
            groups.append([f for _, f in r.roles])
            gold.append(hit)
    return fit_roles(groups, gold, c_roles) if groups else {}


def _word_model(rows: list[Row], c_text: float) -> tuple[dict[str, float], float]:
    # borderline records are not disputes for the word model
    return fit_ngrams([r.tokens for r in rows], [int(r.rec["label"] == "positive") for r in rows], c_text)


def train_model(records: list[dict[str, Any]], gazetteer: Gazetteer, c: float = 1.0,
                rows: list[Row] | None = None, c_text: float = C_TEXT, solo: float = SOLO_THRESHOLD,
                folds: int = 5, c_roles: float = C_ROLES) -> Model:
    """Fit the learned stage on ``records`` (never the blind sets; ``rows``: their
    :func:`training_rows` when already computed): the word model on every record, then the
    calibration model over the rules' view plus the word model's logit, which for training
    is taken out of fold (by event) so that the calibration does not learn to trust words
    it has memorised."""
    rows = training_rows(records, gazetteer) if rows is None else rows
    ngrams, ngram_bias = _word_model(rows, c_text)
    fold = [_fold_of(r.rec, folds) for r in rows]
    oof: dict[int, float] = {}
    for k in range(folds):
        held = [r for r, f in zip(rows, fold, strict=True) if f == k and r.feats is not None]
        if not held:
            continue
        w, b = _word_model([r for r, f in zip(rows, fold, strict=True) if f != k], c_text)
        for r in held:
            oof[id(r)] = ngram_logit(w, b, r.tokens)
    cal = [(r, {**r.feats, "text_logit": text_feature(oof[id(r)])}) for r in rows
           if r.feats is not None and r.rec["label"] != "borderline"]
    weights, bias = fit([f for _, f in cal], [int(r.rec["label"] == "positive") for r, _ in cal], c)
    roles = _role_model(rows, gazetteer, c_roles) if c_roles > 0 else {}
    meta = {"trained_on": len(cal), "records": len(records), "c": c, "c_text": c_text, "ngrams": len(ngrams),
            "c_roles": c_roles, "role_features": len(roles),
            "data": data_fingerprint(records), "splits": sorted({str(r.get("split")) for r in records})}
    digest = hashlib.sha256(json.dumps([weights, bias, ngrams, ngram_bias, solo, roles],
                                       sort_keys=True).encode()).hexdigest()[:8]
    meta["id"] = f"lr-{digest}"
    return Model(weights, bias, meta, ngrams, ngram_bias, solo, roles)


def cross_validate(records: list[dict[str, Any]], gazetteer: Gazetteer, c: float = 1.0, folds: int = 5,
                   threshold: float = 0.5, rows: list[Row] | None = None, **kw: Any) -> Report:
    """Out-of-fold scores: the records are dealt into ``folds`` by event, a model is trained
    on the other folds and each record is judged by the model that never saw its event."""
    by_fold: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        by_fold[_fold_of(rec, folds)].append(rec)
    rows = training_rows(records, gazetteer) if rows is None else rows
    rep = Report()
    for k in range(folds):
        train = [r for j, rs in by_fold.items() if j != k for r in rs]
        held = {id(r) for r in by_fold[k]}
        model = train_model(train, gazetteer, c, [row for row in rows if id(row.rec) not in held], **kw)
        part = evaluate(by_fold[k], gazetteer, threshold, model=model)
        for f in ("n", "tp", "fp", "fn", "tn", "roles_checked", "actor_ok", "target_ok", "both_ok"):
            setattr(rep, f, getattr(rep, f) + getattr(part, f))
        rep.borderline.update(part.borderline)
        for kind, cnt in part.by_kind.items():
            rep.by_kind[kind].update(cnt)
        rep.errors.extend(part.errors)
    return rep
