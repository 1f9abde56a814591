"""The detector's second stage: a small logistic model that turns what the rules found into
the article's score.

The rules (accesswatch.detect) find the evidence and the roles; on their own they add the
strengths of the evidence sentences with hand-set weights. That misjudges articles at the
edges: a real dispute told in one hedged sentence scores 0.4, a threat-intel report that
"disabled accounts" scores 0.5. The model reweighs the same evidence with what the article
is about, learned from the labelled corpus:

- what the rules saw: their score, the action, how many sentences, headline and lead,
  whether the roles were named or inferred, the kind of target;
- the article's topic cues, counted in one Aho-Corasick pass: dispute words ("spat",
  "crackdown"), terms and competitors, distillation, statements, no-comment lines, and the
  vocabulary of the hard negatives (outages, threat actors, lawsuits, partnerships, launches,
  pricing, chips, regulators, funding).

A third input reads the words themselves: a bag of vendor-masked word unigrams and bigrams
("<v> cut off", "access back", "t:<v> bars"), scored by a sparse logistic model. It is
trained on the same corpus; the calibration model sees its logit as one more feature,
computed out of fold at training time so that it is not trusted more than it deserves.
It also catches what the rules cannot parse: an article where the rules found no actor but
the words say dispute with high confidence (``solo_threshold``) is a positive whose evidence
is the sentences that weigh most for it (``accesswatch.detect``).

Explainability is kept: the evidence sentences are the rules' (or the heaviest sentences).
No I/O here except reading the shipped weights (``accesswatch/data/detector_model.json``);
training (``accesswatch train-detector``) needs scipy and scikit-learn, the run does not.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import ahocorasick

FEATURE_VERSION = "f2"
MODEL_FILE = "detector_model.json"
C_CAL = 0.5  # the calibration model's inverse L2 strength (train-detector --c; CV over 2,210: 0.1-1.0 F1 0.964-0.966)
C_TEXT = 1.0  # the word model's inverse L2 strength (train-detector --c-text)
SOLO_THRESHOLD = 0.55  # word-model probability that makes a positive the rules did not find (--solo)

# Cue families: stems matched at word starts over the lower-cased article.
_CUES: dict[str, tuple[str, ...]] = {
    "dispute": ("spat", "feud", "row ", "rift", "clash", "standoff", "showdown", "dispute", "crackdown", "fallout",
                "tension", "escalat", "retaliat", "hostil", "rivalr", "weaponi"),
    "terms": ("terms of service", "terms of use", "usage polic", "commercial terms", "violat", "breach", "acceptable use"),
    "competitor": ("compet", "rival"),
    "distill": ("distill", "synthetic data", "train its own", "train their own", "trained on", "outputs", "exfiltrat",
                "harvest"),
    "access": ("access", "api", "endpoint", "keys", "key ", "credentials", "accounts", "account "),
    "cutverb": ("cut off", "cutoff", "cut-off", "revok", "suspend", "suspension", "block", "barred", "bars ", "ban ",
                "banned", "throttl", "rate limit", "rate-limit", "restrict", "shut off", "pulled", "yank", "terminat",
                "no longer", "lost access", "lose access", "locked out", "kicked"),
    "statement": ("statement", "spokesperson", "spokeswoman", "spokesman", "said in a", "wrote on", "posted on",
                  "blog post", "disappoint", "unfair", "surprised"),
    "no_comment": ("did not respond", "did not immediately respond", "declined to comment", "didn't respond",
                   "could not be reached", "request for comment"),
    "restore": ("restor", "reinstat", "regain", "back online", "again"),
    "malicious": ("threat actor", "malicious", "scam", "fraud", "state-backed", "state-sponsored", "influence operation",
                  "phishing", "malware", "cybercrim", "hacker", "hacking", "espionage", "north korean it", "covert",
                  "threat intelligence", "threat report", "bad actors", "abus"),
    "outage": ("outage", "downtime", "status page", "incident", "degraded", "elevated error", "went down", "postmortem"),
    "lawsuit": ("lawsuit", "sued", "sues ", "suing", "court", "judge", "plaintiff", "complaint filed", "trade secret",
                "copyright", "infring", "damages"),
    "partnership": ("partnership", "partner", "deal", "integrat", "collaborat", "available on", "available in",
                    "available through", "gains access", "gain access", "expanded", "multiyear"),
    "launch": ("launch", "release", "unveil", "introduc", "rolls out", "rolled out", "rolling out", "preview",
               "general availability", "now available", "new model"),
    "pricing": ("price", "pricing", "per million tokens", "discount", "cheaper", "cost", "subscription tier", "plan "),
    "regulator": ("regulator", "ftc", "commission", "antitrust", "ministry", "government", "lawmakers", "senator",
                  "congress", "watchdog", "department of"),
    "chips": ("chip", "gpu", "export control", "semiconductor", "nvidia h", "h20", "blackwell"),
    "employees": ("employees", "staff", "workers", "workplace", "internal use"),
    "crawler": ("crawler", "crawl", "scrap", "robots.txt", "bot ", "bots", "publisher"),
    "money": ("raised", "funding", "valuation", "series a", "series b", "series c", "investors", "revenue", "ipo"),
    "talent": ("hired", "poach", "joins ", "joined", "departure", "defect", "recruit"),
    "deprecation": ("deprecat", "retire", "sunset", "end of life", "end-of-life", "legacy model"),
    "china_class": ("chinese-controlled", "china-controlled", "majority-owned", "majority owned", "controlled by",
                    "headquartered in", "unsupported region", "adversar"),
    "hedge": ("could ", "would ", "might ", "may ", "if ", "unless ", "hypothetical", "what if", "risk of", "worr",
              "speculat", "rumor", "rumour"),
    "denial": ("denied", "denies", "deny", "not true", "false", "no evidence", "has not", "have not", "never "),
}


@lru_cache(maxsize=1)
def _automaton() -> ahocorasick.Automaton:
    auto = ahocorasick.Automaton()
    entries: dict[str, list[str]] = {}
    for fam, stems in _CUES.items():
        for s in stems:
            entries.setdefault(s, []).append(fam)
    for s, fams in entries.items():
        auto.add_word(s, (len(s), tuple(fams)))
    auto.make_automaton()
    return auto


def cue_counts(text: str) -> dict[str, int]:
    """Counts of each cue family at word starts in ``text`` (one pass)."""
    lower = text.lower()
    out: dict[str, int] = {}
    for end, (n, fams) in _automaton().iter(lower):
        start = end - n + 1
        if start and lower[start - 1].isalnum():
            continue
        for f in fams:
            out[f] = out.get(f, 0) + 1
    return out


@dataclass(frozen=True, slots=True)
class RuleView:
    """What the rules concluded about one article, as the model sees it."""

    rule_score: float  # the rules' own score, after their caps
    action: str | None
    n_sentences: int  # evidence sentences for the chosen actor
    n_pair_sentences: int  # ... that name the chosen target too
    headline: bool  # evidence in the headline
    lead: bool  # evidence in the first ~600 characters
    filled: bool  # every role of the chosen pair came from context
    unordered: bool
    target_kind: str  # known | unknown | class | none
    actor_in_title: bool
    target_in_title: bool
    n_ai_vendors: int
    n_pairs: int
    complain_only: bool
    background: bool  # every evidence sentence reads as background
    borderline_share: float
    max_strength: float


_ACTIONS = ("revoke", "suspend", "restrict", "block", "threaten", "probe", "complain", "restore")


def _logit(p: float) -> float:
    p = min(0.99, max(0.01, p))
    return math.log(p / (1 - p))


def features(view: RuleView, title: str, text: str, text_logit: float | None = None) -> dict[str, float]:
    """The model's input: named features (absent = 0). ``text_logit``: the word model's
    logit for the article, when there is a word model."""
    f: dict[str, float] = {
        "rule_logit": _logit(view.rule_score),
        "rule_score": view.rule_score,
        "n_sentences": math.log1p(view.n_sentences),
        "n_pair_sentences": math.log1p(view.n_pair_sentences),
        "headline": float(view.headline),
        "lead": float(view.lead),
        "filled": float(view.filled),
        "unordered": float(view.unordered),
        f"target_{view.target_kind}": 1.0,
        "actor_in_title": float(view.actor_in_title),
        "target_in_title": float(view.target_in_title),
        "n_ai_vendors": math.log1p(view.n_ai_vendors),
        "n_pairs": math.log1p(view.n_pairs),
        "complain_only": float(view.complain_only),
        "background": float(view.background),
        "borderline_share": view.borderline_share,
        "max_strength": view.max_strength,
    }
    if view.action in _ACTIONS:
        f[f"action_{view.action}"] = 1.0
    words = max(1, text.count(" ") + 1)
    f["length"] = math.log1p(words) / 8
    for fam, n in cue_counts(text).items():
        f[f"cue_{fam}"] = math.log1p(n)
    for fam, n in cue_counts(title).items():
        f[f"title_{fam}"] = 1.0 if n else 0.0
    if text_logit is not None:
        f["text_logit"] = text_feature(text_logit)
    return f


def text_feature(text_logit: float) -> float:
    """The word model's logit as the calibration model's feature (clipped, scaled)."""
    return max(-8.0, min(8.0, text_logit)) / 4


# The word model's tokens: vendor names masked (<v> an AI vendor, <p> a platform) so that it
# learns how disputes are told, not who was in the ones we wrote; headline tokens apart.
TEXT_CHARS = 8000  # the word model reads the headline and the body's first 8,000 characters
# Words are runs of ASCII letters, "-" and the mask's "<v>"; everything else splits them
# (encode + translate + split: three times faster than a regex findall; this runs per article).
_SPACES = {c: " " for c in range(128) if chr(c) not in "abcdefghijklmnopqrstuvwxyz-<>"}


def _words(lower: str) -> list[str]:
    return lower.encode("ascii", "replace").decode("ascii").translate(_SPACES).split()


class _Span(Protocol):
    start: int
    end: int

    @property
    def vendor(self) -> Any: ...


def masked(s: str, mentions: Sequence[_Span]) -> str:
    """``s`` lower-cased with each vendor mention replaced by <v> (AI) or <p> (platform)."""
    out, last = [], 0
    for m in mentions:
        if m.start < last or m.end > len(s):
            continue
        out.append(s[last:m.start])
        out.append(" <v> " if m.vendor.is_ai else " <p> ")
        last = m.end
    out.append(s[last:])
    return "".join(out).lower()


def grams(s: str, mentions: Sequence[_Span], prefix: str = "") -> set[str]:
    """The masked unigrams and bigrams of ``s`` (``mentions``: its vendor mentions)."""
    words = _words(masked(s, mentions))
    if prefix:
        words = [prefix + w for w in words]
        return {*words, *map("_".join, zip(words, (w[len(prefix):] for w in words[1:]), strict=False))}
    return {*words, *map("_".join, zip(words, words[1:], strict=False))}


def ngram_tokens(title: str, text: str, title_mentions: Sequence[_Span], mentions: Sequence[_Span]) -> set[str]:
    """The word model's input for one article: the set of masked unigrams and bigrams of the
    body, and of the headline prefixed "t:"."""
    body = text[:TEXT_CHARS]
    return grams(title, title_mentions, "t:") | grams(body, [m for m in mentions if m.end <= len(body)])


def ngram_logit(ngrams: dict[str, float], bias: float, tokens: set[str]) -> float:
    """The word model's logit for an article's tokens (the set intersection runs in C:
    most of an article's n-grams carry no weight)."""
    return bias + sum(map(ngrams.__getitem__, tokens & ngrams.keys()))


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class Model:
    weights: dict[str, float]
    bias: float
    meta: dict[str, Any]
    ngrams: dict[str, float] = field(default_factory=dict)  # the word model (empty: none)
    ngram_bias: float = 0.0
    solo_threshold: float = 1.01  # word-model probability that makes a positive without the rules
    roles: dict[str, float] = field(default_factory=dict)  # the role model (accesswatch.roles; empty: none)

    def prob(self, feats: dict[str, float]) -> float:
        return sigmoid(self.bias + sum(self.weights.get(k, 0.0) * v for k, v in feats.items()))

    def text_logit(self, tokens: set[str]) -> float:
        return ngram_logit(self.ngrams, self.ngram_bias, tokens)

    def to_json(self) -> str:
        return json.dumps({"feature_version": FEATURE_VERSION, "bias": self.bias,
                           "weights": dict(sorted(self.weights.items())), "meta": self.meta,
                           "ngram_bias": self.ngram_bias, "solo_threshold": self.solo_threshold,
                           "ngrams": dict(sorted(self.ngrams.items())),
                           "roles": dict(sorted(self.roles.items()))}, indent=0, sort_keys=True)


def model_path() -> Path:
    return Path(str(resources.files("accesswatch") / "data" / MODEL_FILE))


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> Model | None:
    """The shipped model, or None when there is none or it was built for other features
    (then the rules' score stands alone)."""
    p = Path(path) if path else model_path()
    if not p.exists():
        return None
    raw = json.loads(p.read_text(encoding="utf-8"))
    if raw.get("feature_version") != FEATURE_VERSION:
        return None
    return Model({k: float(v) for k, v in raw["weights"].items()}, float(raw["bias"]), raw.get("meta", {}),
                 {k: float(v) for k, v in raw.get("ngrams", {}).items()}, float(raw.get("ngram_bias", 0.0)),
                 float(raw.get("solo_threshold", 1.01)), {k: float(v) for k, v in raw.get("roles", {}).items()})


def data_fingerprint(records: Iterable[dict[str, Any]]) -> str:
    """A hash of the training records' ids, labels and texts: a stale model is visible."""
    h = hashlib.sha256()
    for r in sorted(records, key=lambda r: str(r.get("id"))):
        h.update(json.dumps([r.get("id"), r.get("label"), r.get("title"), r.get("text")], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


# Sign constraints: what each feature may do to the score. The corpus is small and written
# for the project, so a free fit learns accidents ("partnership" words near disputes); the
# signs below are domain knowledge the fit must respect. Unlisted features are left out.
RAISES = frozenset({
    "text_logit", "rule_logit", "rule_score", "n_sentences", "n_pair_sentences", "headline", "lead", "target_known", "target_class",
    "actor_in_title", "target_in_title", "max_strength", "cue_dispute", "cue_terms", "cue_competitor", "cue_distill",
    "cue_cutverb", "cue_statement", "cue_restore", "cue_china_class", "title_dispute", "title_cutverb", "title_distill",
    "title_competitor", "title_china_class", "title_restore", "title_terms"})
LOWERS = frozenset({
    "filled", "unordered", "target_none", "target_inferred", "complain_only", "background", "borderline_share",
    "cue_malicious", "cue_outage", "cue_lawsuit", "cue_partnership", "cue_launch", "cue_pricing", "cue_regulator",
    "cue_chips", "cue_employees", "cue_money", "cue_talent", "cue_deprecation", "cue_hedge", "cue_denial",
    "cue_crawler", "title_malicious", "title_outage", "title_lawsuit", "title_partnership", "title_launch",
    "title_pricing", "title_regulator", "title_chips", "title_employees", "title_money", "title_talent",
    "title_deprecation", "title_hedge", "title_denial", "title_crawler"})
EITHER = frozenset({f"action_{a}" for a in _ACTIONS} | {"target_unknown", "cue_no_comment", "length"})


def fit(rows: list[dict[str, float]], y: list[int], c: float = 1.0) -> tuple[dict[str, float], float]:
    """L2 logistic regression with sign constraints (scipy's L-BFGS-B; deterministic)."""
    import numpy as np
    from scipy.optimize import minimize

    names = sorted({k for r in rows for k in r} & (RAISES | LOWERS | EITHER))
    index = {n: i for i, n in enumerate(names)}
    x = np.zeros((len(rows), len(names) + 1))
    for i, r in enumerate(rows):
        for k, v in r.items():
            if k in index:
                x[i, index[k]] = v
    x[:, -1] = 1.0  # bias, not penalised
    t = np.where(np.asarray(y) > 0, 1.0, -1.0)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = t * (x @ w)
        p = np.exp(-np.logaddexp(0, z))  # sigmoid(-z)
        reg = w[:-1] @ w[:-1] / (2 * c)
        grad = -(x.T @ (t * p))
        grad[:-1] += w[:-1] / c
        return float(np.logaddexp(0, -z).sum() + reg), grad

    bounds = [(0, None) if n in RAISES else (None, 0) if n in LOWERS else (None, None) for n in names] + [(None, None)]
    res = minimize(loss, np.zeros(len(names) + 1), jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 5000})
    w = res.x
    weights = {n: round(float(w[i]), 6) for n, i in index.items() if abs(w[i]) > 1e-6}
    return weights, round(float(w[-1]), 6)


def fit_ngrams(docs: list[set[str]], y: list[int], c: float = 1.0, min_df: int = 2,
               keep: float = 0.01) -> tuple[dict[str, float], float]:
    """L2 logistic regression over binary n-gram features (scikit-learn, lbfgs:
    deterministic). Weights under ``keep`` in size are dropped (they move no decision and
    would only bloat the shipped file)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = CountVectorizer(analyzer=sorted, binary=True, min_df=min_df, lowercase=False)
    x = vec.fit_transform(docs)
    clf = LogisticRegression(C=c, max_iter=5000, solver="lbfgs").fit(x, y)
    names = vec.get_feature_names_out()
    weights = {str(names[i]): round(float(w), 4) for i, w in enumerate(clf.coef_[0]) if abs(w) >= keep}
    return weights, round(float(clf.intercept_[0]), 4)
