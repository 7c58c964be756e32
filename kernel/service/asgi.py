"""The app factory uvicorn's worker processes import (``huhang serve --workers N``).

``huhang serve`` puts its options in the environment (:data:`ENV_DB`, :data:`ENV_RULES`,
:data:`ENV_CONFIG`) before starting the workers; each worker opens its own context from them.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

ENV_DB = "HUHANG_SERVE_DB"
ENV_RULES = "HUHANG_SERVE_RULES"
ENV_CONFIG = "HUHANG_SERVE_CONFIG"


def create_from_environment() -> FastAPI:
    """One worker's app, from the options ``huhang serve`` left in the environment."""
    from kernel.service.app import create_app
    from kernel.service.context import open_service
    from kernel.service.metrics import ENV_DIR, SharedMetrics

    config = os.environ.get(ENV_CONFIG)
    context = open_service(
        db=os.environ.get(ENV_DB) or None,
        rules=os.environ.get(ENV_RULES) or None,
        config=Path(config) if config else None,
    )
    app = create_app(context)
    folder = os.environ.get(ENV_DIR)
    if folder:  # every worker's counters in every scrape
        app.state.metrics = SharedMetrics(Path(folder))
    return app
