"""The vendor gazetteer: config/vendors.toml -> fast multi-pattern matching.

Names match on word boundaries with Aho-Corasick (pyahocorasick) over the lower-cased
text; names listed in ``exact_case`` (common words such as "Cursor" or "Claude") must also
match with their exact capitalisation in the original text.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import ahocorasick

from .errors import ConfigError

KINDS = ("ai", "ai_product", "cloud", "platform")


@dataclass(frozen=True, slots=True)
class Vendor:
    name: str
    kind: str
    country: str | None = None

    @property
    def is_ai(self) -> bool:
        return self.kind != "platform"


@dataclass(frozen=True, slots=True)
class Mention:
    start: int
    end: int
    surface: str
    vendor: Vendor
    is_product: bool


def _is_cjk(c: str) -> bool:
    o = ord(c)
    return 0x3000 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF


def _is_word_char(c: str) -> bool:
    """Word characters for name boundaries. CJK text has no spaces: an ideograph next to
    "Anthropic" or "微软" is a boundary, not part of the name."""
    return (c.isalnum() or c == "_") and not _is_cjk(c)


class Gazetteer:
    """Find vendor mentions in text. Build once (``load``), use many times; picklable state
    is the list of names, the automaton is rebuilt on unpickle."""

    def __init__(self, names: list[tuple[str, Vendor, bool, bool]]):
        # (surface, vendor, exact_case, is_product)
        self._names = names
        self.vendors: dict[str, Vendor] = {v.name: v for _, v, _, _ in names}
        self._build()

    def _build(self) -> None:
        auto = ahocorasick.Automaton()
        for surface, vendor, exact, is_product in self._names:
            key = surface.lower()
            auto.add_word(key, (surface, vendor, exact, is_product, len(key)))
        auto.make_automaton()
        self._auto = auto

    def __getstate__(self) -> list[tuple[str, Vendor, bool, bool]]:
        return self._names

    def __setstate__(self, state: list[tuple[str, Vendor, bool, bool]]) -> None:
        self.__init__(state)  # type: ignore[misc]

    @cached_property
    def first_words(self) -> frozenset[str]:
        """The first word of every multi-word name ("Together" of "Together AI"): alone, it
        is a known vendor's short name, not an unknown company."""
        return frozenset(surface.split()[0] for surface, _v, _e, _p in self._names if " " in surface)

    def canonical(self, name: str) -> str | None:
        """Canonical vendor name for any known name (case-insensitive), or None."""
        key = name.lower()
        for surface, vendor, _exact, _p in self._names:
            if surface.lower() == key:
                return vendor.name
        return None

    def find(self, text: str) -> list[Mention]:
        """Non-overlapping mentions, longest match first, in text order."""
        lower = text.lower()
        if len(lower) != len(text):  # rare Unicode case-length changes: fall back to casefold-free
            lower = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        found: list[Mention] = []
        n = len(text)
        for end_idx, (surface, vendor, exact, is_product, length) in self._auto.iter(lower):
            start = end_idx - length + 1
            end = end_idx + 1
            if start > 0 and _is_word_char(text[start - 1]):
                continue
            if end < n and _is_word_char(text[end]):
                # allow possessive/plural-free forms only: "Claude's" is fine ("'" is not a word char)
                continue
            if exact and text[start:end] != surface:
                continue
            found.append(Mention(start, end, text[start:end], vendor, is_product))
        found.sort(key=lambda m: (m.start, -(m.end - m.start)))
        out: list[Mention] = []
        last_end = -1
        for m in found:
            if m.start >= last_end:
                out.append(m)
                last_end = m.end
        return out

    @classmethod
    def load(cls, path: Path) -> Gazetteer:
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigError(str(path), "", "file not found") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(str(path), "", f"not valid TOML: {e}") from e
        names: list[tuple[str, Vendor, bool, bool]] = []
        seen: dict[str, str] = {}
        for i, item in enumerate(data.get("vendor", [])):
            where = f"vendor[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
                raise ConfigError(str(path), f"{where}.name", "required string")
            kind = item.get("kind", "ai")
            if kind not in KINDS:
                raise ConfigError(str(path), f"{where}.kind", f"must be one of {', '.join(KINDS)} (got {kind!r})")
            vendor = Vendor(name=item["name"], kind=kind, country=item.get("country"))
            exact = set()
            for key in ("aliases", "products", "exact_case"):
                val = item.get(key, [])
                if not isinstance(val, list) or not all(isinstance(x, str) and x.strip() for x in val):
                    raise ConfigError(str(path), f"{where}.{key}", "must be a list of non-empty strings")
            exact = set(item.get("exact_case", []))
            for surface, is_product in ([(item["name"], False)] + [(a, False) for a in item.get("aliases", [])]
                                        + [(p, True) for p in item.get("products", [])]):
                key = surface.lower()
                if key in seen and seen[key] != vendor.name:
                    raise ConfigError(str(path), f"{where}", f"name {surface!r} already used by {seen[key]}")
                if key in seen:
                    continue
                seen[key] = vendor.name
                names.append((surface, vendor, surface in exact, is_product))
        if not names:
            raise ConfigError(str(path), "vendor", "expected at least one [[vendor]] table")
        return cls(names)
