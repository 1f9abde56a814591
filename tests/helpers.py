"""Small builders for test feeds (written for these tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime


def rss(items: list[dict[str, str]], title: str = "Test feed") -> str:
    base = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    out = []
    for i, it in enumerate(items):
        guid = f"<guid>{it['guid']}</guid>" if "guid" in it else ""
        out.append(f"<item><title>{it.get('title', f'Item {i}')}</title><link>{it['link']}</link>{guid}"
                   f"<description>{it.get('summary', 'A short summary of the story.')}</description>"
                   f"<pubDate>{format_datetime(base - timedelta(hours=i))}</pubDate></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>http://example.invalid/</link><description>t</description>{''.join(out)}</channel></rss>")


def page(title: str, body_paragraphs: list[str]) -> str:
    paras = "".join(f"<p>{p}</p>" for p in body_paragraphs)
    return (f"<!doctype html><html lang='en'><head><title>{title}</title></head><body>"
            f"<nav><a href='/'>Home</a> <a href='/ai'>AI</a> <a href='/about'>About</a></nav>"
            f"<article><h1>{title}</h1>{paras}</article>"
            f"<footer>Copyright 2026 Test Outlet. All rights reserved.</footer></body></html>")
