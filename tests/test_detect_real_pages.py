"""Real news pages nobody here wrote (``../shared/corpus/html``, read at run time, never
copied): none is about AI access disputes, so the detector must flag none of them, also
with what real pages carry around a story: links to other stories after the article, and an
old cutoff retold in passing.

The pages go through the pipeline's own decoding and extraction. A page whose extraction is
only a caption or a menu has no article to weigh the teaser against: a few such pages may be
flagged, so the checks allow at most 3% of the pages.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from accesswatch.detect import detect, load_gazetteer

from .conftest import CONFIG_DIR, CORPUS

GAZ = load_gazetteer(CONFIG_DIR / "vendors.toml")
HTML_DIR = CORPUS / "html"
EN_NEWS = {"en-news", "en-news-unannotated"}


OTHER_LANGS = {"de-news", "es-news", "fr-news", "pl-news", "other-lang-news"}


def _extracted(groups: set[str]) -> list[tuple[str, str]]:
    if not (HTML_DIR / "MANIFEST.tsv").is_file():
        pytest.skip(f"real page corpus not found at {HTML_DIR} (expected ../shared/corpus/html next to the repo)")
    from accesswatch.extract import extract_one
    from accesswatch.fetch import decode_html

    with (HTML_DIR / "MANIFEST.tsv").open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["group"] in groups and r["path"].endswith(".html")]
    out = []
    for r in sorted(rows, key=lambda r: r["path"]):
        path = HTML_DIR / r["path"]
        if path.is_file():
            d = extract_one(decode_html(path.read_bytes(), "text/html"), f"http://corpus.invalid/{r['path']}")
            if d.get("text"):
                out.append((d.get("title") or Path(r["path"]).stem, d["text"]))
    return out


@pytest.fixture(scope="module")
def pages() -> list[tuple[str, str]]:
    out = _extracted(EN_NEWS)
    assert len(out) >= 50, f"only {len(out)} pages extracted"
    return out


@pytest.fixture(scope="module")
def foreign_pages() -> list[tuple[str, str]]:
    out = _extracted(OTHER_LANGS)
    assert len(out) >= 40, f"only {len(out)} pages extracted"
    return out


@pytest.mark.parametrize("tail", [
    "",
    "Read more: Anthropic cuts off OpenAI's access to Claude models",
    "More from our site\nOpenAI revokes DeepSeek API keys\nMeta unveils new glasses\nMeta bars xAI from Llama",
    "In 2025, Anthropic cut off OpenAI's access to Claude models, citing its terms.",
    "Last year Google suspended ByteDance's Gemini API account over distillation.",
])
def test_real_news_pages_are_not_disputes(pages: list[tuple[str, str]], tail: str) -> None:
    flagged = [title for title, text in pages if detect(title, text + ("\n\n" + tail if tail else ""), GAZ).is_dispute]
    allowed = 0 if not tail else int(0.03 * len(pages))
    assert len(flagged) <= allowed, (len(flagged), len(pages), flagged)


@pytest.mark.parametrize("tail", [
    "",
    "Anthropic coupe l'accès d'OpenAI à Claude",
    "OpenAI sperrt DeepSeek den Zugang zur API",
    "谷歌切断字节跳动对Gemini API的访问",
])
def test_real_news_pages_in_other_languages_are_not_disputes(foreign_pages: list[tuple[str, str]], tail: str) -> None:
    """German, Spanish, French, Polish, Japanese... news pages: not disputes, also with a
    teaser for another story (in the page's reading of other languages) appended."""
    flagged = [t for t, text in foreign_pages if detect(t, text + ("\n\n" + tail if tail else ""), GAZ).is_dispute]
    allowed = 0 if not tail else int(0.03 * len(foreign_pages))
    assert len(flagged) <= allowed, (len(flagged), len(foreign_pages), flagged)
