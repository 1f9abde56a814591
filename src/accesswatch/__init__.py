"""accesswatch: watch the news for API access disputes between AI vendors.

Stages (one module each): config -> feeds -> fetch -> extract -> detect -> store (-> alerts).
The Prefect flow that wires them lives in ``flows/monitor.py``.
"""

__version__ = "0.1.0"
