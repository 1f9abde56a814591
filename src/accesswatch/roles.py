"""Who did what to whom: the detector's learned role stage.

The rules (``accesswatch.detect``) read roles from one sentence at a time: "Anthropic cut off
OpenAI" names the actor before the verb and the target after it. Articles say it in other
ways as often: the target answers first ("Windsurf says it was given five days' notice"), a
nominalisation names both sides in either order ("MiniMax's Google distillation row"), the
actor is a product ("Claude's maker"). So once an article is a positive, every ordered pair
of its leading parties is a candidate and a small conditional-logit model picks one, reading:

- what the rules said: their pair, their evidence for each side in each role;
- where the parties stand: salience, the headline, the lead;
- whose models are at stake ("Claude", "OpenAI's API" make the provider the likelier actor);
- the words around each party's mentions, with the other party marked: "<A> cut off <T>",
  "<T> says", "by <A>", "<T>'s access", "<T> rejects".

The model is trained on the labelled corpus's positives (``train_model`` in
``accesswatch.evaluate``); its weights ship in the detector's model file. Pure functions:
no I/O, deterministic (candidates and features in sorted order).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

MAX_PARTIES = 5  # the article's most salient parties are candidates ...
MAX_EXTRA = 2  # ... plus the rules' pair and the parties their evidence weighs most, up to this many more
CONTEXT_CHARS = 4000  # party contexts are read in the headline and the body's first 4,000 characters
C_ROLES = 1.0  # inverse L2 strength of the role model (train-detector --c-roles)

_PROVIDES = re.compile(r"(?:'s|’s)\s+(?:[\w-]+\s+){0,2}?(?:api|apis|models?|platform|terms|chatbot|assistant|endpoints?|"
                       r"weights|llms?|outputs?|services|cloud)\b", re.I)
_TOKEN = re.compile(r"[a-z]+|['’]s\b")


class _Span(Protocol):
    start: int
    end: int
    is_product: bool

    @property
    def vendor(self) -> Any: ...


def provider_weight(name: str | None, title_mentions: Sequence[_Span], mentions: Sequence[_Span],
                    title: str, text: str) -> int:
    """How much the article presents ``name`` as the one whose models are at stake: its
    products named ("Claude", "Gemini API") and its API, models or terms ("OpenAI's API")."""
    n = 0
    for ms, src in ((title_mentions, title), (mentions, text)):
        for m in ms:
            if m.vendor.name == name and m.start < 6000:
                n += 1 if m.is_product or _PROVIDES.match(src, m.end) else 0
    return n


@dataclass(frozen=True, slots=True)
class Clue:
    """One evidence sentence as the role stage sees it."""

    actor: str | None
    target: str | None
    weight: float  # strength x position weight
    unordered: bool
    action: str


@dataclass(frozen=True)
class Inputs:
    """What the role stage reads about one positive article."""

    title: str
    text: str
    title_mentions: Sequence[_Span]
    mentions: Sequence[_Span]
    clues: tuple[Clue, ...]
    salience: dict[str, float]
    known_ai: frozenset[str]  # AI vendors of the gazetteer named in the article
    kinds: dict[str, str]  # vendor kind per named vendor (ai, ai_product, platform)
    actor: str | None  # the rules' pair
    target: str | None
    action: str | None
    solo: bool  # the pair came from the word model (the rules found no actor)
    unknown: str | None = None  # the organisation the gazetteer does not know that the article keeps naming


def _tokens(src: str, spans: Sequence[_Span], limit: int) -> list[str]:
    """Lower-cased words of ``src[:limit]`` with each mention as one token "@Vendor"."""
    out: list[str] = []
    pos = 0
    for m in sorted((m for m in spans if m.end <= limit), key=lambda m: m.start):
        if m.start < pos:
            continue
        out.extend(t.replace("’", "'") for t in _TOKEN.findall(src[pos:m.start].lower()))
        out.append("@" + m.vendor.name)
        pos = m.end
    out.extend(t.replace("’", "'") for t in _TOKEN.findall(src[pos:limit].lower()))
    return out


def _name_spans(name: str, src: str, limit: int) -> list[tuple[int, int]]:
    """Occurrences of an organisation the gazetteer does not know ("Kiteline")."""
    out, i = [], src.find(name, 0, limit)
    while i >= 0 and len(out) < 8:
        out.append((i, i + len(name)))
        i = src.find(name, i + len(name), limit)
    return out


def _contexts(tokens: list[str], at: list[int], other: str, prefix: str) -> set[str]:
    """The words around each mention of a party (its token positions ``at``), the other
    party marked <o>, other vendors <v>: "R1:cut", "R2:cut off", "L1:by", "RO:cut off" (the
    words between it and the other party when that follows within six tokens), "LO:..."
    when it precedes."""

    def show(t: str) -> str:
        return "<o>" if t == other else "<v>" if t[0] == "@" else t

    feats: set[str] = set()
    for i in at:
        right = [show(x) for x in tokens[i + 1:i + 4]]
        left = [show(x) for x in tokens[max(0, i - 3):i]]
        if right:
            feats.add(f"{prefix}R1:{right[0]}")
            if len(right) > 1:
                feats.add(f"{prefix}R2:{right[0]} {right[1]}")
        if left:
            feats.add(f"{prefix}L1:{left[-1]}")
            if len(left) > 1:
                feats.add(f"{prefix}L2:{left[-2]} {left[-1]}")
        ahead = tokens[i + 1:i + 8]
        if other in ahead:
            between = [show(x) for x in ahead[:ahead.index(other)]]
            feats.add(f"{prefix}RO:{' '.join(between[:3])}")
            feats.update(f"{prefix}ROw:{w}" for w in between)
        behind = tokens[max(0, i - 7):i]
        if other in behind:
            between = [show(x) for x in behind[len(behind) - behind[::-1].index(other):]]
            feats.add(f"{prefix}LO:{' '.join(between[-3:])}")
            feats.update(f"{prefix}LOw:{w}" for w in between)
    return feats


def _positions(tokens: list[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, t in enumerate(tokens):
        if t[0] == "@":
            out.setdefault(t, []).append(i)
    return out


@dataclass(frozen=True, slots=True)
class _Named:
    start: int
    end: int
    name: str
    is_product: bool = False

    @property
    def vendor(self) -> Any:
        return self


def candidates(inp: Inputs) -> list[tuple[tuple[str, str], dict[str, float]]]:
    """Every ordered pair (actor, target) of the article's leading parties, with its
    features. The actor is an AI vendor of the gazetteer; the target any other party."""
    ranked = sorted(inp.salience.items(), key=lambda kv: (-kv[1], kv[0]))
    parties = [k for k, _ in ranked[:MAX_PARTIES]]
    # the rules' pair, then the parties their evidence weighs most (at most MAX_EXTRA more:
    # a dense article names dozens, and candidates grow with the square)
    acts: dict[str, float] = {}  # the rules' evidence weight for each party as actor, as target
    acted_on: dict[str, float] = {}
    for c in inp.clues:
        if c.actor:
            acts[c.actor] = acts.get(c.actor, 0.0) + c.weight
        if c.target:
            acted_on[c.target] = acted_on.get(c.target, 0.0) + c.weight
    weight = {k: acts.get(k, 0.0) + acted_on.get(k, 0.0) for k in acts.keys() | acted_on.keys()}
    extras = [inp.actor, inp.target, inp.unknown] + sorted(weight, key=lambda k: (-weight[k], k))
    added = 0
    for extra in extras:
        if extra and extra not in parties and added < MAX_EXTRA:
            parties.append(extra)
            added += 1
    rank = {k: i for i, (k, _) in enumerate(ranked)}
    title_names = [m.vendor.name for m in sorted(inp.title_mentions, key=lambda m: m.start)]
    limit = min(len(inp.text), CONTEXT_CHARS)
    spans_t, spans_b = list(inp.title_mentions), [m for m in inp.mentions if m.end <= limit]
    # organisations the gazetteer does not know are marked by their name as it is written
    for name in parties:
        if name not in inp.kinds:
            spans_t += [_Named(s, e, name) for s, e in _name_spans(name, inp.title, len(inp.title))]
            spans_b += [_Named(s, e, name) for s, e in _name_spans(name, inp.text, limit)]
    tok_t = _tokens(inp.title, spans_t, len(inp.title))
    tok_b = _tokens(inp.text, spans_b, limit)
    pos_t, pos_b = _positions(tok_t), _positions(tok_b)
    prov = {p: provider_weight(p, inp.title_mentions, inp.mentions, inp.title, inp.text) for p in parties}
    # order of first appearance (headline first): a list of targets is labelled by its first
    order = list(dict.fromkeys(t[1:] for t in tok_t + tok_b if t.startswith("@")))

    clue_tuples = [(c.actor, c.target, c.weight, c.unordered) for c in inp.clues]
    out = []
    for a in parties:
        if a not in inp.known_ai and a != inp.actor:
            continue
        for t in parties:
            if t == a:
                continue
            f: dict[str, float] = {
                "rule_pick": float((a, t) == (inp.actor, inp.target)),
                "rule_rev": float((t, a) == (inp.actor, inp.target)),
                "rule_actor": float(a == inp.actor),
                "rule_target": float(t == inp.target),
                "rule_actor_as_target": float(t == inp.actor),
                "pair_ev": pair_evidence(clue_tuples, a, t),
                "pair_ev_rev": pair_evidence(clue_tuples, t, a),
                "a_acts": math.log1p(acts.get(a, 0.0)),
                "t_acted_on": math.log1p(acted_on.get(t, 0.0)),
                "a_acted_on": math.log1p(acted_on.get(a, 0.0)),
                "t_acts": math.log1p(acts.get(t, 0.0)),
                "a_salience": math.log1p(inp.salience.get(a, 0.0)),
                "t_salience": math.log1p(inp.salience.get(t, 0.0)),
                "a_top": float(rank.get(a) == 0),
                "t_top": float(rank.get(t) == 0),
                "a_title": float(a in title_names),
                "t_title": float(t in title_names),
                "a_first_title": float(a in title_names and (t not in title_names
                                                             or title_names.index(a) < title_names.index(t))),
                "a_provider": math.log1p(prov.get(a, 0)),
                "t_provider": math.log1p(prov.get(t, 0)),
                "a_no_provider": float(prov.get(a, 0) == 0),
                "t_no_provider": float(prov.get(t, 0) == 0),
                "a_product_co": float(inp.kinds.get(a) == "ai_product"),
                "t_product_co": float(inp.kinds.get(t) == "ai_product"),
                "t_unknown": float(t not in inp.kinds),
                "t_unknown_named": float(t == inp.unknown),
                "t_platform": float(inp.kinds.get(t) == "platform"),
                "a_named_first": float(bool(order) and order[0] == a),
                "t_first_other": float(next((o for o in order if o != a), None) == t),
                "t_never_named": float(t not in order),
            }
            if inp.action:
                f[f"{inp.action}|rule_pick"] = f["rule_pick"]
                f[f"{inp.action}|rule_rev"] = f["rule_rev"]
                f[f"{inp.action}|provider_diff"] = f["a_provider"] - f["t_provider"]
            if inp.solo:
                f["solo|rule_pick"] = f["rule_pick"]
                f["solo|rule_rev"] = f["rule_rev"]
            for src, pos, pre in ((tok_t, pos_t, "h"), (tok_b, pos_b, "")):
                for k in _contexts(src, pos.get("@" + a, []), "@" + t, "A|" + pre):
                    f[k] = 1.0
                for k in _contexts(src, pos.get("@" + t, []), "@" + a, "T|" + pre):
                    f[k] = 1.0
            out.append(((a, t), f))
    return out


def pair_evidence(clues: Iterable[tuple[str | None, str | None, float, bool]], actor: str | None,
                  target: str | None) -> float:
    """The rules' evidence that ``actor`` did it to ``target``: a noisy-or over the evidence
    sentences, each (actor, target, weight, unordered). One side named counts at 0.6; "A's B
    suspension" (unordered) counts either way at 0.85, so ordered evidence decides."""
    miss = 1.0
    for a, t, w, unordered in clues:
        if unordered and {a, t} == {actor, target}:
            w *= 0.85
        elif a == actor and t == target:
            pass
        elif a == actor and t is None:
            w *= 0.6
        elif a is None and t == target:
            w *= 0.6
        else:
            continue
        miss *= 1 - min(0.95, w)
    return 1 - miss


def choose(weights: dict[str, float], cands: list[tuple[tuple[str, str], dict[str, float]]]) -> tuple[str, str] | None:
    """The best-scoring candidate pair (ties: the first in candidate order)."""
    best, best_z = None, -math.inf
    for pair, f in cands:
        z = sum(weights.get(k, 0.0) * v for k, v in f.items())
        if z > best_z + 1e-12:
            best, best_z = pair, z
    return best


def fit(groups: list[list[dict[str, float]]], gold: list[int], c: float = C_ROLES,
        min_df: int = 2) -> dict[str, float]:
    """Conditional logit (softmax over each article's candidates) with L2, by L-BFGS
    (scipy; deterministic). Features seen in fewer than ``min_df`` articles are left out."""
    import numpy as np
    from scipy import sparse
    from scipy.optimize import minimize

    df: dict[str, int] = {}
    for g in groups:
        for k in {k for f in g for k in f}:
            df[k] = df.get(k, 0) + 1
    names = sorted(k for k, n in df.items() if n >= min_df)
    index = {n: i for i, n in enumerate(names)}
    rows, cols, vals, starts = [], [], [], []
    r = 0
    for g in groups:
        starts.append(r)
        for f in g:
            for k, v in f.items():
                if k in index and v:
                    rows.append(r)
                    cols.append(index[k])
                    vals.append(v)
            r += 1
    x = sparse.csr_matrix((vals, (rows, cols)), shape=(r, len(names)))
    starts_a = np.asarray(starts)
    gold_rows = starts_a + np.asarray(gold)
    sizes = np.diff(np.append(starts_a, r))
    y = np.zeros(r)
    y[gold_rows] = 1.0

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        zmax = np.maximum.reduceat(z, starts_a)
        ez = np.exp(z - np.repeat(zmax, sizes))
        denom = np.add.reduceat(ez, starts_a)
        lse = zmax + np.log(denom)
        p = ez / np.repeat(denom, sizes)
        nll = float((lse - z[gold_rows]).sum()) + float(w @ w) / (2 * c)
        grad = x.T @ (p - y) + w / c
        return nll, grad

    res = minimize(loss, np.zeros(len(names)), jac=True, method="L-BFGS-B", options={"maxiter": 5000})
    return {n: round(float(res.x[i]), 4) for n, i in index.items() if abs(res.x[i]) >= 1e-3}
