"""The office's web console: server-rendered Chinese pages on ``huhang serve`` at ``/``.

Sign-in accounts (:mod:`kernel.web.accounts`), sessions and CSRF (:mod:`kernel.web.sessions`),
what each role may see and do (:mod:`kernel.web.access`, :mod:`kernel.web.actions`), the pages'
data from the kernel's own functions (:mod:`kernel.web.views`, :mod:`kernel.web.rulesview`) and
the routes (:mod:`kernel.web.app`). Templates and the vendored htmx are package data.
"""
