"""Shared set-up of the API tests: a ledger with the example events, a token per role."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from kernel.service.app import create_app
from kernel.service.context import Limits, ServiceContext, open_service
from kernel.service.tokens import create_token

ROOT = Path(__file__).resolve().parent.parent
EVENTS = [json.loads(line) for line in (ROOT / "examples" / "events.jsonl").open(encoding="utf-8")]
NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

#: the example ledger's two tickets: HZ-2026-0003 (lead 发改委, primary 洋县, co 自然资源局 住建局
#: 发改委, coordinator 助商稳企办) and HZ-2026-0002 (lead 人社局, primary 南郑区, co 人社局)
TICKET_C = "HZ-2026-0003"
TICKET_B = "HZ-2026-0002"
CODE_C = "91610723MA6YQ5C2X2"
CODE_B = "91610702MA6YK3B1XQ"


@dataclass
class Api:
    """An in-process client with one token per role."""

    client: TestClient
    context: ServiceContext
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str = "office", **kw: Any) -> Any:
        return self.client.get(path, headers={**self.headers(who), **kw.pop("headers", {})}, **kw)

    def post(self, path: str, who: str = "office", **kw: Any) -> Any:
        return self.client.post(path, headers={**self.headers(who), **kw.pop("headers", {})}, **kw)


def make_api(db: Path, *, limits: Limits | None = None, events: bool = True) -> Api:
    """A fresh SQLite ledger at ``db``, the example events stored by the office, the tokens."""
    context = open_service(db=str(db), create=True, clock=lambda: NOW, limits=limits)
    storage = context.ledger.storage
    tokens = {}
    for who, unit, role in (
        ("office", "助商稳企办", "office"),
        ("auditor", "市审计局", "auditor"),
        ("fgw", "发改委", "unit"),  # lead unit of HZ-2026-0003
        ("yangxian", "洋县", "unit"),  # primary of HZ-2026-0003
        ("rsj", "人社局", "unit"),  # lead unit of HZ-2026-0002
        ("swj", "商务局", "unit"),  # no part in either ticket
    ):
        tokens[who] = create_token(storage, name=who, unit=unit, role=role, now=NOW).token
    expired = create_token(
        storage,
        name="old",
        unit="助商稳企办",
        role="office",
        now=NOW - dt.timedelta(days=30),
        expires_at=NOW - dt.timedelta(days=1),
    )
    tokens["expired"] = expired.token
    revoked = create_token(storage, name="gone", unit="助商稳企办", role="office", now=NOW)
    storage.revoke_token(revoked.record.token_id, NOW)
    tokens["revoked"] = revoked.token
    api = Api(TestClient(create_app(context)), context, tokens)
    if events:
        answer = api.post("/api/v1/events", json=EVENTS)
        assert answer.status_code == 200, answer.text
        assert answer.json()["rejected"] == 0
    return api


def zipped(folder: Path, *, prefix: str = "rules/") -> bytes:
    """A zip of a folder's files under ``prefix``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + str(path.relative_to(folder)))
    return buffer.getvalue()
