"""Config: shipped defaults load; every bad value names its file (or variable) and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from accesswatch.config import load_config
from accesswatch.errors import ConfigError
from accesswatch.vendors import Gazetteer

from .conftest import CONFIG_DIR, write_config

FEED = '[[feed]]\nname = "local"\nurl = "http://127.0.0.1:1/feed.xml"\n'


def test_shipped_config_is_valid() -> None:
    cfg = load_config(CONFIG_DIR, environ={})
    assert len(cfg.feeds) >= 15
    assert all(f.url.startswith("https://") for f in cfg.feeds)
    assert cfg.settings.http.allowed_private_hosts == ()
    assert cfg.db_path == Path("data/accesswatch.duckdb")
    gaz = Gazetteer.load(cfg.vendors_path)
    assert len({v.name for v in gaz.vendors.values() if v.is_ai}) >= 40


def test_copy_with_only_feeds_replaced(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path / "c", FEED), db_path=tmp_path / "x.duckdb", environ={})
    assert [f.name for f in cfg.feeds] == ["local"] and cfg.db_path == tmp_path / "x.duckdb"


def test_environment_beats_file(tmp_path: Path) -> None:
    d = write_config(tmp_path / "c", FEED)
    cfg = load_config(d, environ={"ACCESSWATCH_HTTP_CONCURRENCY": "3",
                                  "ACCESSWATCH_HTTP_ALLOWED_PRIVATE_HOSTS": '["127.0.0.1:8080"]',
                                  "ACCESSWATCH_DATABASE_PATH": "/tmp/else.duckdb"})
    assert cfg.settings.http.concurrency == 3
    assert cfg.settings.http.allowed_private_hosts == ("127.0.0.1:8080",)
    assert cfg.db_path == Path("/tmp/else.duckdb")


@pytest.mark.parametrize("override,key", [
    ("[http]\nconcurrency = 0", "http.concurrency"),
    ("[http]\ntotal_timeout_seconds = -1", "http.total_timeout_seconds"),
    ("[http]\nmax_page_bytes = \"big\"", "http.max_page_bytes"),
    ("[detect]\nthreshold = 1.5", "detect.threshold"),
    ("[slack]\nbase_url = \"ftp://x\"", "slack.base_url"),
    ("[http]\nallowed_private_hosts = [\"a b\"]", "http.allowed_private_hosts"),
    ("[nonsense]\nx = 1", "nonsense"),
    ("[feeds]\nbackof_base_minutes = 3", "feeds.backof_base_minutes"),
])
def test_bad_setting_names_file_and_key(tmp_path: Path, override: str, key: str) -> None:
    d = tmp_path / "c"
    write_config(d, FEED)
    # replace the section wholesale so duplicate TOML tables do not mask the error
    (d / "accesswatch.toml").write_text(override + "\n")
    with pytest.raises(ConfigError) as e:
        load_config(d, environ={})
    assert str(d / "accesswatch.toml") in str(e.value)
    assert e.value.key.startswith(key)


@pytest.mark.parametrize("feeds,key", [
    ('[[feed]]\nname = "a"\nurl = "ftp://x/feed"\n', "feed[0].url"),
    ('[[feed]]\nname = "a"\n', "feed[0].url"),
    ('[[feed]]\nname = "a"\nurl = "https://a/f"\n[[feed]]\nname = "a"\nurl = "https://b/f"\n', "feed[1].name"),
    ('[[feed]]\nname = "a"\nurl = "https://a/f"\ncolour = "red"\n', "feed[0].colour"),
    ("feed = 3\n", "feed"),
    ("[[feed]\n", ""),
])
def test_bad_feeds_name_file_and_key(tmp_path: Path, feeds: str, key: str) -> None:
    d = write_config(tmp_path / "c", feeds)
    with pytest.raises(ConfigError) as e:
        load_config(d, environ={})
    assert str(d / "feeds.toml") in str(e.value)
    assert e.value.key == key


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    d = write_config(tmp_path / "c", FEED)
    with pytest.raises(ConfigError) as e:
        load_config(d, environ={"ACCESSWATCH_HTTP_CONCURRENCY": "many"})
    assert "ACCESSWATCH_HTTP_CONCURRENCY" in str(e.value) and e.value.key == "http.concurrency"
    with pytest.raises(ConfigError) as e:
        load_config(d, environ={"ACCESSWATCH_HTTP_CONCURENCY": "3"})
    assert "ACCESSWATCH_HTTP_CONCURENCY" in str(e.value)


def test_missing_config_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope", environ={})
