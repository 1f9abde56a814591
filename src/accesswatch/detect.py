"""The dispute detector: does an article report an API access dispute between AI vendors,
and who did what to whom?

Pure: ``detect(title, text, gazetteer)`` reads nothing and writes nothing. It decides from
evidence sentences, not keyword counts: a sentence counts when it ties an access action
("cut off", "revoked", "suspended", "probing whether ... distilled") to an access object
(API, access, accounts, models, a vendor's product) and to AI vendors in roles (who acts,
whose access). Negated and hypothetical sentences do not count; the headline weighs more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .models import Detection
from .vendors import Gazetteer, Mention

DETECTOR_VERSION = "rules-1"

# ------------------------------------------------------------------ lexicon
# (action, pattern). Order matters only for ties: the first action found in a sentence wins.
_ACTIONS: list[tuple[str, str]] = [
    ("restore", r"\b(restor(?:e|ed|es|ing)|reinstat\w*|regain(?:ed|s|ing)?|re-?enabl\w*|"
                r"(?:turn|switch)(?:ed|s)? (?:it |access )?back on|resum(?:e|ed|es) (?:access|serving))\b"),
    ("threaten", r"\b(threat(?:en|ened|ens|ening)?|ultimatum|warn(?:ed|s|ing)? (?:that )?(?:it|they|the \w+) (?:would|could|will|may)"
                 r" (?:cut|revoke|suspend|block|end|pull))\b"),
    ("suspend", r"\b(suspend(?:ed|s|ing)?|suspension)\b"),
    ("revoke", r"\b(revok(?:e|ed|es|ing)|revocation|cut(?:s|ting)? (?:off|\w+(?: \w+)?'?s? off)|cut-?off|pull(?:ed|s|ing)? the plug|"
               r"shut(?:s|ting)? (?:off|out|down access)|yank(?:ed|s|ing)?|terminat(?:e|ed|es|ing)\b(?=.{0,40}\b(?:access|account|api|contract|agreement))|"
               r"(?:end|ended|ends|ending) (?:its |their |the )?(?:access|api access)|lost (?:its |their )?access|los(?:e|es|ing) (?:its |their )?access|"
               r"no longer (?:be able to |able to |allowed to |permitted to )?(?:use|access|call|offer|serve|provide|tap)|"
               r"stop(?:ped|s|ping)? (?:serving|providing|offering|selling|supplying)|denied (?:access|\w+ access)|"
               r"(?:removed|disabled|withdr[ae]w|withdrawn|pulled) (?:its |their |the )?(?:access|api access|api keys?|models?))\b"),
    ("block", r"\b(block(?:ed|s|ing)?|bar(?:red|s|ring)?|ban(?:ned|s|ning)?|prohibit(?:ed|s|ing)?|forbid(?:s|den|ding)?|"
              r"lock(?:ed|s|ing)? out|shut(?:s)? out)\b"),
    ("restrict", r"\b(restrict(?:ed|s|ing|ion|ions)?|throttl(?:e|ed|es|ing)|rate[- ]limit(?:ed|ing|s)?|curb(?:ed|s|ing)?|"
                 r"limit(?:ed|s|ing)? (?:its |their |the )?(?:access|use|usage))\b"),
    ("probe", r"\b(investigat(?:e|ed|es|ing|ion)|prob(?:e|ed|es|ing)|review(?:ing|ed)? whether|looking into whether|"
              r"examin(?:e|ed|ing) whether|accus(?:e|ed|es|ing)|alleg(?:e|ed|es|ing|ation|ations)|"
              r"(?:inappropriately|improperly|illicitly) (?:distill\w*|used|trained))\b"),
    ("complain", r"\b(complain(?:ed|s|ing|t)?|criticis\w+|criticiz\w+|slam(?:med|s)?|protest(?:ed|s)?|"
                 r"disappointed|unfair|anti-?competitive)\b"),
]
_ACTION_RE = [(a, re.compile(p, re.IGNORECASE)) for a, p in _ACTIONS]

_OBJECT_RE = re.compile(
    r"\b(api|apis|access|models?|accounts?|api keys?|keys|tools?|subscriptions?|endpoints?|platform|"
    r"services?|inference|developer (?:platform|console)|coding (?:tools?|assistant|agent)|outputs?)\b",
    re.IGNORECASE)

_REASONS: list[tuple[str, re.Pattern[str]]] = [
    ("distillation", re.compile(r"\bdistill\w*|train(?:ed|ing)? (?:\w+ ){0,3}on (?:its|the|our|their) outputs|outputs to train", re.I)),
    ("competing model", re.compile(r"\bcompet(?:ing|itor|itive|e)\b.{0,40}\b(models?|products?|services?|ai)\b|build(?:ing)? (?:a )?rival", re.I)),
    ("national security", re.compile(r"\bnational security|adversar\w+ (?:nations?|countries)|chinese[- ](?:controlled|owned)|"
                                      r"controlled by (?:entities|companies) (?:in|from)|export control", re.I)),
    ("acquisition", re.compile(r"\bacqui(?:re|red|res|ring|sition)\b", re.I)),
    ("terms violation", re.compile(r"\b(terms of (?:service|use)|violat\w+ (?:of )?(?:its|our|the)? ?(?:terms|policies|usage)|"
                                    r"usage polic\w+|commercial terms|breach\w* (?:of )?(?:its|the)? ?(?:terms|contract))", re.I)),
    ("security", re.compile(r"\bsecurity (?:concerns?|reasons?|risks?)\b", re.I)),
]

_NEGATION = re.compile(r"\b(not|never|no|n't|denied that|deny|denies|without)\b", re.I)
_HYPOTHETICAL = re.compile(r"\b(could|would|might|may|if|whether|should|what if|hypothetical\w*|imagine)\b", re.I)
_PASSIVE = re.compile(r"\b(was|were|been|being|is|are|got|get|gets)\s+(?:\w+\s+)?$", re.I)
_BY_AGENT = re.compile(r"^\W*\s*by\b", re.I)
_TARGET_SUBJECT = re.compile(r"\b(lost|lose|loses|losing|denied|no longer|regain\w*)\b", re.I)
_CRAWLER = re.compile(r"\b(crawl\w*|scrap\w*|robots\.txt|bots?\b|gptbot|claudebot|data dump|training data)\b", re.I)
_SENT_SPLIT = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+(?=[\"'“‘(]?[A-Z0-9])|\n+")

# Function words that make up much of any English text; cheap and good enough to tell
# English from other languages without a model.
_EN_WORDS = frozenset("the and to of in that is for on with as it was by at from its has have said be are this".split())


@dataclass(frozen=True, slots=True)
class _Evidence:
    sentence: str
    action: str
    strength: float
    actor: str | None
    target: str | None
    in_headline: bool
    platform_involved: bool
    crawler: bool


def is_english(text: str) -> bool:
    words = re.findall(r"[a-zA-Z]+", text[:3000].lower())
    if len(words) < 8:
        return bool(words)
    return sum(w in _EN_WORDS for w in words) / len(words) >= 0.08


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT_SPLIT.split(text) if s and len(s.strip()) > 2]


def _find_action(sentence: str) -> tuple[str, re.Match[str]] | None:
    best: tuple[str, re.Match[str]] | None = None
    for action, rx in _ACTION_RE:
        m = rx.search(sentence)
        if m and (best is None or (action in ("restore", "threaten", "suspend") and best[0] not in ("restore", "threaten"))):
            if best is None:
                best = (action, m)
            elif action in ("restore", "threaten"):
                best = (action, m)
    return best


def _roles(sentence: str, mentions: list[Mention], verb: re.Match[str]) -> tuple[str | None, str | None]:
    """Who acts and whose access, from the mentions' places around the action verb."""
    before = [m for m in mentions if m.end <= verb.start()]
    after = [m for m in mentions if m.start >= verb.end()]
    prefix = sentence[max(0, verb.start() - 30):verb.start()]
    passive = bool(_PASSIVE.search(prefix))
    target_subject = bool(_TARGET_SUBJECT.search(verb.group(0))) or passive

    def first_org(ms: list[Mention], prefer_company: bool = True) -> str | None:
        comp = [m for m in ms if not m.is_product] if prefer_company else []
        pick = comp or ms
        return pick[0].vendor.name if pick else None

    if target_subject:
        target = before[-1].vendor.name if before else None
        actor = None
        by = [m for m in after if _BY_AGENT.match(sentence[verb.end():m.start].split(",")[-1][-6:] or "")]
        rest = [m for m in after if m.vendor.name != target]
        if by:
            actor = by[0].vendor.name
        elif rest:
            actor = rest[0].vendor.name
        return actor, target
    actor = before[-1].vendor.name if before else None
    # prefer a company mention before the verb over a product ("Anthropic's Claude team revoked")
    comp_before = [m for m in before if not m.is_product]
    if comp_before:
        actor = comp_before[-1].vendor.name
    targets = [m for m in after if m.vendor.name != actor]
    target = first_org(targets)
    if actor is None and len(after) >= 2:
        # "revoked OpenAI's access to Claude": possessive then product owner
        actor = next((m.vendor.name for m in after if m.is_product and m.vendor.name != target), None)
    return actor, target


def _sentence_evidence(sentence: str, gazetteer: Gazetteer, in_headline: bool) -> _Evidence | None:
    found = _find_action(sentence)
    if found is None:
        return None
    action, verb = found
    mentions = gazetteer.find(sentence)
    ai = [m for m in mentions if m.vendor.is_ai]
    if not ai:
        return None
    has_object = bool(_OBJECT_RE.search(sentence)) or any(m.is_product for m in ai)
    if not has_object and action not in ("probe", "complain"):
        return None
    clause = sentence[max(0, verb.start() - 40):verb.start()]
    if _NEGATION.search(clause[-25:]):
        return None
    hypothetical = bool(_HYPOTHETICAL.search(clause[-30:])) and action not in ("threaten", "probe")
    actor, target = _roles(sentence, mentions, verb)
    distinct = {m.vendor.name for m in mentions}
    strength = 0.35
    if actor and target and actor != target:
        strength = 0.6
    elif len(distinct) >= 2:
        strength = 0.45
    if action in ("complain",):
        strength -= 0.15
    if hypothetical:
        strength *= 0.3
    platform = any(not m.vendor.is_ai for m in mentions)
    return _Evidence(sentence=sentence, action=action, strength=strength, actor=actor, target=target,
                     in_headline=in_headline, platform_involved=platform,
                     crawler=bool(_CRAWLER.search(sentence)))


def detect(title: str | None, text: str | None, gazetteer: Gazetteer, threshold: float = 0.5) -> Detection:
    """Classify one article. ``title`` None: the text's first line is the headline."""
    text = text or ""
    if title is None:
        first, _, rest = text.strip().partition("\n")
        title, text = first, rest
    title = title.strip()
    body = f"{title}\n{text}" if title else text
    vendors = tuple(sorted({m.vendor.name for m in gazetteer.find(body)}))
    if not is_english(body):
        return Detection(False, "negative", 0.0, vendors=vendors, detector_version=DETECTOR_VERSION)
    evidence: list[_Evidence] = []
    if title:
        ev = _sentence_evidence(title, gazetteer, True)
        if ev:
            evidence.append(ev)
    for s in split_sentences(text):
        ev = _sentence_evidence(s, gazetteer, False)
        if ev:
            evidence.append(ev)
    if not evidence:
        return Detection(False, "negative", 0.0, vendors=vendors, detector_version=DETECTOR_VERSION)
    miss = 1.0
    for ev in evidence:
        miss *= 1 - min(0.95, ev.strength * (1.4 if ev.in_headline else 1.0))
    score = round(1 - miss, 3)
    ranked = sorted(evidence, key=lambda e: (e.actor is not None and e.target is not None, e.in_headline, e.strength),
                    reverse=True)
    best = ranked[0]
    actor = best.actor or next((e.actor for e in ranked if e.actor), None)
    target = best.target or next((e.target for e in ranked if e.target and e.target != actor), None)
    borderline = (best.crawler or best.platform_involved and (actor is None or not gazetteer.vendors[actor].is_ai))
    label = "negative"
    if score >= threshold:
        label = "borderline" if borderline else "positive"
    reason = None
    joined = " ".join(e.sentence for e in ranked[:4])
    for name, rx in _REASONS:
        if rx.search(joined):
            reason = name
            break
    return Detection(is_dispute=label == "positive", label=label, score=score, action=best.action,
                     actor=actor, target=target, reason=reason,
                     evidence=tuple(e.sentence for e in ranked[:3]), vendors=vendors,
                     detector_version=DETECTOR_VERSION)


@lru_cache(maxsize=8)
def load_gazetteer(path: str | Path) -> Gazetteer:
    """Load (and cache per path) the vendor gazetteer."""
    return Gazetteer.load(Path(path))


def detect_articles(items: list[tuple[str, str | None, str | None]], gazetteer: Gazetteer,
                    threshold: float) -> list[tuple[str, Detection]]:
    """The detect stage over a batch of (article_id, title, text)."""
    return [(aid, detect(title, text, gazetteer, threshold)) for aid, title, text in items]


def run_jsonl(lines, gazetteer: Gazetteer, threshold: float = 0.5):  # noqa: ANN001, ANN201
    """For ``accesswatch detect``: JSON lines in, one JSON line out per input line.
    A bad line yields an error line with its id (or line number); the rest go on."""
    import json

    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        ident: object = None
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict):
                raise ValueError("expected a JSON object")
            ident = rec.get("id", n)
            title, text = rec.get("title"), rec.get("text")
            if text is not None and not isinstance(text, str):
                raise ValueError("'text' must be a string")
            if title is not None and not isinstance(title, str):
                raise ValueError("'title' must be a string or null")
            if not text and not title:
                raise ValueError("'text' is required")
            d = detect(title, text, gazetteer, threshold)
            yield json.dumps({"id": ident, **detection_dict(d)}, ensure_ascii=False)
        except Exception as e:  # one bad line never stops the stream
            yield json.dumps({"id": ident if ident is not None else n, "line": n,
                              "error": f"{type(e).__name__}: {e}"}, ensure_ascii=False)


def detection_dict(d: Detection) -> dict[str, object]:
    return {"is_dispute": d.is_dispute, "label": d.label, "score": d.score, "action": d.action,
            "actor": d.actor, "target": d.target, "reason": d.reason, "evidence": list(d.evidence),
            "detector_version": d.detector_version}
