"""``huhang serve``: the kernel over HTTP (FastAPI on uvicorn), with bearer tokens and roles.

Modules: :mod:`~kernel.service.access` (principals and what each role may do),
:mod:`~kernel.service.tokens` (the hashed token store), :mod:`~kernel.service.context` (what a
running service holds open), :mod:`~kernel.service.app` (``create_app``), the routes
(``routes_*``), :mod:`~kernel.service.problems` (RFC 9457 problem documents) and
:mod:`~kernel.service.metrics` (Prometheus text).
"""
