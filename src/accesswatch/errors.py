"""The project's error tree. Library errors are translated at the stage boundaries.

    AccessWatchError
    ├── ConfigError            bad config value (names the file and the key); terminal
    ├── FetchError             an HTTP fetch failed
    │   ├── TransientFetchError   timeouts, connection errors, 429/5xx: worth a retry later
    │   └── PermanentFetchError   4xx, wrong content type, too large, bad scheme
    │       └── BlockedURLError   refused by the URL guard (private address, bad scheme)
    ├── FeedParseError         the bytes were not a usable feed; terminal for this poll
    └── StoreError             the database
        └── StoreBusyError     another process held the lock longer than the timeout; transient
"""

from __future__ import annotations


class AccessWatchError(Exception):
    """Base of every error raised by accesswatch."""

    transient: bool = False


class ConfigError(AccessWatchError):
    """A configuration file or environment value is invalid."""

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = source
        self.key = key
        self.message = message
        super().__init__(f"{source}: {key}: {message}" if key else f"{source}: {message}")


class FetchError(AccessWatchError):
    """An HTTP fetch failed."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TransientFetchError(FetchError):
    transient = True


class PermanentFetchError(FetchError):
    pass


class BlockedURLError(PermanentFetchError):
    """The URL guard refused the request before any connection was made."""


class FeedParseError(AccessWatchError):
    pass


class StoreError(AccessWatchError):
    pass


class StoreBusyError(StoreError):
    transient = True


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying (used by Prefect's retry_condition_fn)."""
    return bool(getattr(exc, "transient", False))
