"""The app factory of ``huhang serve --workers N``: the service's app with the console at ``/``.

Every worker reads the same session secret from ``HUHANG_WEB_SECRET`` (``huhang serve`` sets a
random one when the operator gave none), so a browser signed in on one worker is signed in on all.
"""

from __future__ import annotations

import os
from typing import Any

#: set to 1 by ``huhang serve --insecure-cookies``
ENV_INSECURE = "HUHANG_SERVE_INSECURE_COOKIES"


def create_from_environment() -> Any:
    """One worker's app: API and console."""
    from kernel.service.asgi import create_from_environment as service_app
    from kernel.web.app import mount_console

    return mount_console(service_app(), secure_cookies=os.environ.get(ENV_INSECURE) != "1")
