"""The HTTP API in process: every route, every role boundary, problems, bounds, OpenAPI."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel.service.context import Limits
from tests.conftest import make_ticket
from tests.service_support import (
    CODE_B,
    CODE_C,
    EVENTS,
    NOW,
    ROOT,
    TICKET_B,
    TICKET_C,
    Api,
    make_api,
    zipped,
)

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A ledger that read-only tests share."""
    made = make_api(tmp_path_factory.mktemp("api") / "ledger.db")
    yield made
    made.context.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Api]:
    """A ledger of its own, for tests that write."""
    made = make_api(tmp_path / "ledger.db")
    yield made
    made.context.close()


def problem(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = answer.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"urn:huhang:problem:{code}"
    assert body["title"] and body["detail"]
    return body


def event(event_id: str, kind: str, day: str, actor: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "type": kind, "date": day, "actor": actor, "payload": {}, **extra}


# ---------------------------------------------------------------------- health, auth


def test_health_ready_and_metrics_need_no_token(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["ledger"]["ok"] and checks["ledger"]["events"] >= len(EVENTS)
    assert checks["calendar"]["today"] == "2026-11-30"
    text = api.client.get("/metrics").text
    assert 'huhang_events_total{result="accepted",reason=""}' in text
    assert (
        'huhang_http_request_duration_seconds_bucket{method="POST",route="/api/v1/events"' in text
    )
    assert "huhang_outbox_backlog" in text and "huhang_sweep_duration_seconds_count" in text


def test_not_ready_when_the_calendar_does_not_cover_today(tmp_path: Path) -> None:
    import datetime as dt

    made = make_api(tmp_path / "ledger.db", events=False)
    made.context.clock = lambda: dt.datetime(2041, 1, 2, tzinfo=dt.UTC)
    try:
        answer = made.client.get("/readyz")
        assert answer.status_code == 503
        checks = answer.json()["checks"]
        assert checks["ledger"]["ok"] and not checks["calendar"]["ok"]
        assert "2041" in checks["calendar"]["detail"]
    finally:
        made.context.close()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer hh_000000000000_" + "A" * 43},
    ],
)
def test_missing_or_unknown_token_is_401(api: Api, headers: dict[str, str]) -> None:
    answer = api.client.get("/api/v1/tickets", headers=headers)
    problem(answer, 401, "API-AUTH")
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("who", ["expired", "revoked"])
def test_expired_and_revoked_tokens_are_401(api: Api, who: str) -> None:
    problem(api.get("/api/v1/tickets", who), 401, "API-AUTH")
    problem(api.post("/api/v1/events", who, json=EVENTS[0]), 401, "API-AUTH")


def test_a_token_with_a_wrong_secret_is_401(api: Api) -> None:
    token = api.tokens["office"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    answer = api.client.get("/api/v1/rules", headers={"Authorization": f"Bearer {forged}"})
    problem(answer, 401, "API-AUTH")


def test_unknown_route_and_method_are_problems(api: Api) -> None:
    problem(api.get("/api/v1/nothing-here"), 404, "API-NOT-FOUND")
    problem(
        api.client.delete("/api/v1/tickets", headers=api.headers("office")), 405, "API-NOT-FOUND"
    )


# ---------------------------------------------------------------------- events


def test_events_accept_duplicate_conflict_and_reject_each_with_a_result(fresh: Api) -> None:
    again = fresh.post("/api/v1/events", json={"events": EVENTS})
    assert again.status_code == 200
    body = again.json()
    assert body["accepted"] == 0 and body["duplicates"] == len(EVENTS)
    assert {r["status"] for r in body["results"]} == {"duplicate"}
    changed = dict(EVENTS[2], note="另一份内容")
    broken = event("E-X1", "ticket.dispatched", "2026-11-02", "助商稳企办")  # no ticket_id
    new = event("E-X2", "ticket.progress_reported", "2026-11-20", "洋县", ticket_id=TICKET_C)
    answer = fresh.post("/api/v1/events", json=[changed, broken, new, "not an event"]).json()
    statuses = [(r["status"], r.get("code")) for r in answer["results"]]
    assert statuses[0] == ("rejected", "EVENT-CONFLICT")
    assert statuses[1][0] == "rejected" and statuses[1][1].startswith("SCHEMA")
    assert statuses[2][0] in ("accepted", "rejected")
    assert statuses[3] == ("rejected", "API-INPUT")
    assert all(r["reason"] for r in answer["results"] if r["status"] == "rejected")


def test_an_event_whose_text_holds_nul_is_rejected_with_its_field(fresh: Api) -> None:
    nul = event(
        "E-NUL",
        "ticket.progress_reported",
        "2026-11-20",
        "洋县",
        ticket_id=TICKET_C,
        note="进\x00展",
    )
    answer = fresh.post("/api/v1/events", json=[nul])
    assert answer.status_code == 200
    (result,) = answer.json()["results"]
    assert (result["status"], result["code"]) == ("rejected", "INPUT-CONTROL-CHAR")
    assert "note" in result["reason"] and "U+0000" in result["reason"]


def test_a_report_is_graded_in_its_request_as_ingest_grade_does(fresh: Api) -> None:
    collected = event(
        "N-1",
        "ticket.collected",
        "2026-11-24",
        "发改委",
        ticket_id="HZ-2026-0100",
        enterprise=CODE_C,
        payload={
            "category": "用地",
            "summary": "仓库扩建用地",
            "assessment": {"authority_level": "市级", "departments": ["自然资源局"]},
        },
    )
    reported = event("N-2", "ticket.reported", "2026-11-25", "发改委", ticket_id="HZ-2026-0100")
    answer = fresh.post("/api/v1/events", "fgw", json=[collected, reported]).json()
    assert answer["accepted"] == 2
    assert [g["ticket_id"] for g in answer["graded"]] == ["HZ-2026-0100"]
    assert answer["graded"][0]["grade"] in ("A", "B", "C", "D")
    stored = fresh.context.ledger.ticket("HZ-2026-0100")
    assert stored is not None and stored.state == "graded"


def test_every_stored_event_records_the_principal(fresh: Api) -> None:
    new = event(
        "E-P1",
        "contact.recorded",
        "2026-11-20",
        "人社局",
        enterprise=CODE_B,
        payload={"by": "liaison_cadre", "person": "赵敏", "method": "走访"},
        recorded_by="冒充者",  # replaced by the token's principal
    )
    answer = fresh.post("/api/v1/events", "rsj", json=new).json()
    assert answer["results"][0]["status"] == "accepted", answer
    stored = {e.event_id: e for e in fresh.context.ledger.events()}
    assert stored["E-P1"].recorded_by == "rsj（人社局，责任单位）"
    assert stored["E-0001"].recorded_by == "office（助商稳企办，办公室）"
    assert all(e.recorded_by for e in stored.values())  # the gradings too
    again = fresh.post("/api/v1/events", "office", json=new).json()  # same event, other token
    assert again["results"][0]["status"] == "duplicate"


def test_a_unit_cannot_submit_as_another_unit_and_nothing_is_stored(fresh: Api) -> None:
    before = fresh.context.ledger.storage.count()
    own = event("E-A1", "ticket.progress_reported", "2026-11-20", "发改委", ticket_id=TICKET_C)
    other = event("E-A2", "ticket.progress_reported", "2026-11-20", "洋县", ticket_id=TICKET_C)
    body = problem(fresh.post("/api/v1/events", "fgw", json=[own, other]), 403, "API-ACTOR")
    assert body["index"] == 1 and "洋县" in body["detail"]
    assert fresh.context.ledger.storage.count() == before


def test_the_auditor_writes_nothing(fresh: Api) -> None:
    problem(fresh.post("/api/v1/events", "auditor", json=EVENTS[0]), 403, "API-FORBIDDEN")
    problem(fresh.post("/api/v1/sweep", "auditor"), 403, "API-FORBIDDEN")
    problem(fresh.post("/api/v1/outbox/retry", "auditor"), 403, "API-FORBIDDEN")


def test_a_unit_writing_to_another_units_ticket_is_told_it_does_not_exist(fresh: Api) -> None:
    theirs = event("E-B1", "ticket.progress_reported", "2026-11-20", "商务局", ticket_id=TICKET_C)
    nowhere = event("E-B2", "ticket.progress_reported", "2026-11-20", "商务局", ticket_id="HZ-NONE")
    answer = fresh.post("/api/v1/events", "swj", json=[theirs, nowhere]).json()
    first, second = answer["results"]
    assert first["status"] == second["status"] == "rejected"
    assert first["code"] == second["code"] == "EVENT-REJECTED"
    assert first["reason"].replace(TICKET_C, "X") == second["reason"].replace("HZ-NONE", "X")
    registered = event(
        "E-B3",
        "enterprise.changed",
        "2026-11-20",
        "商务局",
        enterprise=CODE_C,
        payload={"plan": "新方案"},
    )
    answer = fresh.post("/api/v1/events", "swj", json=registered).json()
    assert answer["results"][0]["code"] == "API-FORBIDDEN"
    contact = event(
        "E-B4",
        "contact.recorded",
        "2026-11-20",
        "商务局",
        enterprise=CODE_C,
        payload={"by": "liaison_cadre", "person": "周婷", "method": "走访"},
    )
    answer = fresh.post("/api/v1/events", "swj", json=contact).json()
    assert answer["results"][0]["code"] == "API-FORBIDDEN"
    assert "不由 商务局 包抓" in answer["results"][0]["reason"]
    accepted = fresh.post("/api/v1/events", "fgw", json=dict(contact, actor="发改委")).json()
    assert accepted["results"][0]["status"] == "accepted"


def test_an_implausible_date_is_rejected_per_event(fresh: Api) -> None:
    late = event("E-D1", "ticket.progress_reported", "2030-01-01", "洋县", ticket_id=TICKET_C)
    answer = fresh.post("/api/v1/events", "yangxian", json=late).json()
    assert answer["results"][0]["code"] == "EVENT-DATE"


# ---------------------------------------------------------------------- bounds


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Api]:
    limits = Limits(
        body_bytes=4_000,
        json_depth=8,
        batch_events=3,
        archive_bytes=2_000,
        unpacked_bytes=50_000,
        archive_files=5,
    )
    made = make_api(tmp_path / "small.db", limits=limits, events=False)
    yield made
    made.context.close()


def test_request_size_depth_duplicates_and_batch_are_bounded(small: Api) -> None:
    problem(small.post("/api/v1/events", content=b"[" + b" " * 5_000 + b"]"), 413, "API-BODY-SIZE")
    deep = "[" * 20 + "]" * 20
    problem(small.post("/api/v1/events", content=deep.encode()), 400, "API-JSON-DEPTH")
    twice = b'{"event_id": "a", "event_id": "b"}'
    body = problem(small.post("/api/v1/events", content=twice), 400, "API-JSON")
    assert "重复" in body["detail"]
    problem(small.post("/api/v1/events", content=b"{not json"), 400, "API-JSON")
    problem(small.post("/api/v1/events", content=b"\xff\xfe"), 400, "API-JSON")
    problem(small.post("/api/v1/events", json=[EVENTS[0]] * 4), 413, "API-BODY-SIZE")
    problem(small.post("/api/v1/events", json=[]), 422, "API-INPUT")


def test_archives_are_bounded_and_extracted_safely(small: Api, tmp_path: Path) -> None:
    def zip_of(files: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
        return buffer.getvalue()

    url = "/api/v1/rules/check"
    problem(small.post(url, content=zip_of({"../evil.yaml": b"x"})), 422, "API-ARCHIVE")
    problem(small.post(url, content=zip_of({"/etc/evil.yaml": b"x"})), 422, "API-ARCHIVE")
    many = {f"f{i}.yaml": b"x" for i in range(6)}
    problem(small.post(url, content=zip_of(many)), 422, "API-ARCHIVE")
    bomb = zip_of({"big.yaml": b"0" * 200_000})  # small packed, large unpacked
    assert len(bomb) < 2_000
    problem(small.post(url, content=bomb), 422, "API-ARCHIVE")
    problem(small.post(url, content=b"x" * 3_000), 413, "API-BODY-SIZE")
    problem(small.post(url, content=b"not an archive"), 422, "API-ARCHIVE")
    link = io.BytesIO()
    with zipfile.ZipFile(link, "w") as archive:
        info = zipfile.ZipInfo("rules/link.yaml")
        info.external_attr = 0o120777 << 16  # a symbolic link
        archive.writestr(info, "/etc/passwd")
    problem(small.post(url, content=link.getvalue()), 422, "API-ARCHIVE")
    assert not list(tmp_path.parent.glob("evil.yaml"))


# ---------------------------------------------------------------------- tickets


def _ids(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [item["ticket_id"] for item in answer.json()["items"]]


def test_ticket_list_per_role(api: Api) -> None:
    assert _ids(api.get("/api/v1/tickets")) == [TICKET_B, TICKET_C]
    assert _ids(api.get("/api/v1/tickets", "auditor")) == [TICKET_B, TICKET_C]
    assert _ids(api.get("/api/v1/tickets", "rsj")) == [TICKET_B]
    assert _ids(api.get("/api/v1/tickets", "fgw")) == [TICKET_C]
    assert _ids(api.get("/api/v1/tickets", "yangxian")) == [TICKET_C]
    assert _ids(api.get("/api/v1/tickets", "swj")) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("grade=C", [TICKET_C]),
        ("grade=B", [TICKET_B]),
        ("state=closed", [TICKET_B]),
        ("category=用地", [TICKET_C]),
        ("territory=南郑区", [TICKET_B]),
        ("unit=洋县", [TICKET_C]),
        ("month=2026-03", [TICKET_B]),
        ("q=冷链", [TICKET_C]),
        ("q=hz-2026-0002", [TICKET_B]),
        ("overdue=false", [TICKET_B]),
        ("page=2&page_size=1", [TICKET_C]),
        ("page=3&page_size=1", []),
    ],
)
def test_ticket_filters_and_pages(api: Api, query: str, expected: list[str]) -> None:
    assert _ids(api.get(f"/api/v1/tickets?{query}")) == expected


def test_ticket_overdue_filter_and_total(api: Api) -> None:
    overdue = api.get("/api/v1/tickets?overdue=true").json()
    plain = api.get("/api/v1/tickets?overdue=false").json()
    assert overdue["total"] + plain["total"] == 2
    assert api.get("/api/v1/tickets?page_size=1").json()["total"] == 2


@pytest.mark.parametrize(
    "query", ["grade=E", "state=lost", "month=2026-13", "page=0", "page_size=501"]
)
def test_bad_ticket_filters_are_problems(api: Api, query: str) -> None:
    problem(api.get(f"/api/v1/tickets?{query}"), 422, "API-PARAMETER")


def test_ticket_detail(api: Api) -> None:
    body = api.get(f"/api/v1/tickets/{TICKET_C}?as_of=2026-11-30").json()
    assert body["grade"] == "C" and body["route"]["primary"] == "洋县"
    assert body["rule_grade"] == "C" and body["handlers"][0] == "洋县"
    assert [e["event_id"] for e in body["timeline"]][:2] == ["E-0002", "E-0003"]
    assert body["clocks"]["as_of"] == "2026-11-30" and body["clocks"]["clocks"]
    escalations = body["clocks"]["escalations"]  # the ticket is overdue: 督办 and more are due
    assert escalations and {"step", "action", "date", "units"} <= set(escalations[0])
    assert body["explanation"]["grade"]["value"] == "C"
    assert "G-C-DEPARTMENTS" in body["explanation_text"]


def test_a_unit_reading_another_units_ticket_gets_the_same_404_as_a_missing_one(api: Api) -> None:
    theirs = problem(api.get(f"/api/v1/tickets/{TICKET_C}", "rsj"), 404, "API-NOT-FOUND")
    missing = problem(api.get("/api/v1/tickets/HZ-NONE", "rsj"), 404, "API-NOT-FOUND")
    assert theirs["detail"].replace(TICKET_C, "X") == missing["detail"].replace("HZ-NONE", "X")
    assert api.get(f"/api/v1/tickets/{TICKET_C}", "yangxian").status_code == 200
    assert api.get(f"/api/v1/tickets/{TICKET_C}", "auditor").status_code == 200


def test_explain_stores_nothing(api: Api) -> None:
    from tests.conftest import make_ticket

    before = api.context.ledger.storage.count()
    body = api.post("/api/v1/explain", "swj", json=make_ticket()).json()
    assert body["grade"]["value"] in ("A", "B", "C", "D")
    assert "【分级】" in body["text"]
    assert api.context.ledger.storage.count() == before
    bad = problem(api.post("/api/v1/explain", json={"ticket_id": "T"}), 422, "API-INPUT")
    assert bad["problems"] and all("code" in p for p in bad["problems"])
    problem(api.post("/api/v1/explain", json=[1]), 422, "API-INPUT")


# ---------------------------------------------------------------------- enterprises


def test_enterprises_per_role(api: Api) -> None:
    codes = [e["credit_code"] for e in api.get("/api/v1/enterprises").json()["items"]]
    assert codes == sorted([CODE_B, CODE_C])
    mine = api.get("/api/v1/enterprises", "rsj").json()["items"]
    assert [e["credit_code"] for e in mine] == [CODE_B]
    assert api.get("/api/v1/enterprises?territory=洋县").json()["total"] == 1
    detail = api.get(f"/api/v1/enterprises/{CODE_B}", "rsj").json()
    assert detail["lead_unit"] == "人社局" and detail["tickets"] == [TICKET_B]
    assert sum(m["count"] for m in detail["monthly_contacts"]) >= 0
    problem(api.get(f"/api/v1/enterprises/{CODE_C}", "rsj"), 404, "API-NOT-FOUND")
    problem(api.get("/api/v1/enterprises/91610700MA6YT2A0X4", "rsj"), 404, "API-NOT-FOUND")


# ---------------------------------------------------------------------- reports


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_monthly_report_in_every_format(api: Api) -> None:
    url = "/api/v1/reports/monthly?month=2026-10"
    assert api.get(url).json()["month"] == "2026-10"
    md = api.get(url + "&format=md")
    assert md.headers["content-type"].startswith("text/markdown") and md.text.startswith("# ")
    assert api.get(url, headers={"Accept": "text/markdown"}).text == md.text
    csv = api.get(url + "&format=csv")
    assert csv.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(csv.content)).namelist()
    assert names and all(n.endswith(".csv") for n in names)
    xlsx = api.get(url, headers={"Accept": XLSX})
    assert xlsx.headers["content-type"] == XLSX and xlsx.content[:2] == b"PK"
    problem(api.get(url + "&format=pdf"), 406, "API-FORMAT")
    problem(api.get("/api/v1/reports/monthly?month=10-2026"), 422, "API-PARAMETER")


def test_assessment_and_unit_reports_per_role(api: Api) -> None:
    ranking = api.get("/api/v1/reports/assessment?year=2026", "auditor")
    assert ranking.status_code == 200 and ranking.json()
    assert api.get("/api/v1/reports/assessment?period=2026-Q4&format=md").status_code == 200
    problem(api.get("/api/v1/reports/assessment?year=2026", "rsj"), 403, "API-FORBIDDEN")
    problem(api.get("/api/v1/reports/monthly?month=2026-10", "rsj"), 403, "API-FORBIDDEN")
    own = api.get("/api/v1/reports/units/人社局?year=2026", "rsj")
    assert own.status_code == 200, own.text
    problem(api.get("/api/v1/reports/units/发改委?year=2026", "rsj"), 404, "API-NOT-FOUND")
    assert api.get("/api/v1/reports/units/发改委?year=2026&format=md").status_code == 200
    problem(api.get("/api/v1/reports/assessment"), 422, "API-PARAMETER")
    problem(api.get("/api/v1/reports/assessment?year=2026&period=2026-01"), 422, "API-PARAMETER")
    problem(api.get("/api/v1/reports/units/无此单位?year=2026"), 422, "API-INPUT")


# ---------------------------------------------------------------------- rules


def test_rules_in_force(api: Api) -> None:
    body = api.get("/api/v1/rules", "swj").json()
    assert body["fingerprint"] == api.context.ruleset.fingerprint
    assert {f["kind"] for f in body["files"]} >= {"grading", "routing"}
    assert body["versions"]["grading"] >= 1


def test_rules_check_of_a_valid_and_a_broken_candidate(api: Api, rules_copy: Path) -> None:
    good = api.post(
        "/api/v1/rules/check",
        content=zipped(rules_copy),
        headers={"Content-Type": "application/zip"},
    ).json()
    assert good["valid"] is True and good["problems"] == []
    assert good["fingerprint"] == api.context.ruleset.fingerprint
    grading = rules_copy / "grading.yaml"
    grading.write_text(
        grading.read_text(encoding="utf-8").replace("hit_policy:", "hit_polic:", 1),
        encoding="utf-8",
    )
    bad = api.post("/api/v1/rules/check", "auditor", content=zipped(rules_copy, prefix="")).json()
    assert bad["valid"] is False and bad["problems"]
    assert all(not p["path"].startswith("/") for p in bad["problems"])
    problem(
        api.post("/api/v1/rules/check", "fgw", content=zipped(rules_copy)), 403, "API-FORBIDDEN"
    )


def test_rules_impact_against_the_live_ledger(api: Api, rules_copy: Path) -> None:
    answer = api.post("/api/v1/rules/impact?format=json", content=zipped(rules_copy))
    assert answer.status_code == 200, answer.text
    assert isinstance(answer.json(), dict)
    md = api.post("/api/v1/rules/impact?format=md", "auditor", content=zipped(rules_copy))
    assert md.text.startswith("# ")
    problem(
        api.post("/api/v1/rules/impact", "rsj", content=zipped(rules_copy)), 403, "API-FORBIDDEN"
    )


# ---------------------------------------------------------------------- office


def test_sweep_and_outbox(fresh: Api) -> None:
    problem(fresh.post("/api/v1/sweep", "fgw"), 403, "API-FORBIDDEN")
    first = fresh.post("/api/v1/sweep?as_of=2026-11-30").json()
    assert first["as_of"] == "2026-11-30" and first["tickets"] == 2
    assert "巡查" in first["summary"]
    again = fresh.post("/api/v1/sweep?as_of=2026-11-30").json()
    assert again["notices"] == 0 and again["events"] == 0  # safe to repeat
    status = fresh.get("/api/v1/outbox", "auditor").json()
    assert set(status) >= {"by_status", "due", "waiting", "failed"}
    problem(fresh.get("/api/v1/outbox", "fgw"), 403, "API-FORBIDDEN")
    assert fresh.post("/api/v1/outbox/retry").json() == {"requeued": 0}
    assert "huhang_sweep_duration_seconds_count 2" in fresh.client.get("/metrics").text


def test_outbox_retry_requeues_failed_deliveries(fresh: Api) -> None:
    import datetime as dt

    from kernel.storage.contract import Notice

    storage = fresh.context.ledger.storage
    with storage.transaction() as tx:
        tx.add_notice(
            Notice("N-1", "warning", "洋县", "标题", "正文", dt.date(2026, 11, 30)), ["mail"]
        )
    storage.update_delivery(
        "N-1", "mail", status="failed", attempts=5, next_attempt_at=None, last_error="timeout"
    )
    assert fresh.get("/api/v1/outbox").json()["failed"][0]["last_error"] == "timeout"
    assert fresh.post("/api/v1/outbox/retry").json() == {"requeued": 1}
    assert [d.status for d in storage.deliveries()] == ["pending"]


# ---------------------------------------------------------------------- OpenAPI and the API page


def test_committed_openapi_matches_the_running_one(api: Api) -> None:
    committed = json.loads((ROOT / "docs" / "reference" / "openapi.json").read_text("utf-8"))
    served = api.client.get("/api/v1/openapi.json").json()
    assert served == committed, "run: make api-docs"


def test_openapi_is_stable_and_does_not_change_the_kernel_schemas(api: Api) -> None:
    from kernel.inputs.contracts import load_schema
    from kernel.service.openapi import build_openapi

    before = json.dumps(load_schema("event"), sort_keys=True)
    first = build_openapi(api.client.app)  # type: ignore[arg-type]
    second = build_openapi(api.client.app)  # type: ignore[arg-type]
    assert first == second
    assert json.dumps(load_schema("event"), sort_keys=True) == before
    schemas = first["components"]["schemas"]
    assert "Event" in schemas and "Ticket" in schemas and "Problem" in schemas
    text = json.dumps(first)
    assert '"#/$defs/' not in text
    for ref in set(_refs(first)):  # every reference resolves inside the document
        node: Any = first
        for part in ref.removeprefix("#/").split("/"):
            assert part in node, ref
            node = node[part]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_api_page_is_served_from_the_package(api: Api) -> None:
    page = api.client.get("/api/v1/docs")
    assert page.status_code == 200 and "/api/v1/docs/static/swagger-ui-bundle.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    script = api.client.get("/api/v1/docs/static/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert api.client.get("/api/v1/docs/static/swagger-ui.css").status_code == 200


def _tar(members: list[tuple[str, bytes | None, bytes]], mode: str = "w:gz") -> bytes:
    """A tar archive: (name, link target or None, content) per member."""
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, target, data in members:
            info = tarfile.TarInfo(name)
            if target is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = target.decode()
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_tar_archives_of_rules(api: Api, rules_copy: Path) -> None:
    files = [
        (f"rules/{p.relative_to(rules_copy)}", None, p.read_bytes())
        for p in sorted(rules_copy.rglob("*"))
        if p.is_file()
    ]
    good = api.post("/api/v1/rules/check", content=_tar(files)).json()
    assert good["valid"] is True and good["fingerprint"] == api.context.ruleset.fingerprint
    plain = api.post("/api/v1/rules/check", content=_tar(files, "w")).json()
    assert plain["valid"] is True
    for bad in (
        [("rules/../../evil.yaml", None, b"x")],
        [("rules/link.yaml", b"/etc/passwd", b"")],
    ):
        problem(api.post("/api/v1/rules/check", content=_tar(bad)), 422, "API-ARCHIVE")


# ---------------------------------------------------------------------- the demo ledger


def test_every_route_answers_on_the_demo_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Done when of issue 17: on the ledger ``huhang demo`` leaves, every route of the committed
    OpenAPI document answers the office (a new route without a request here fails the test)."""
    from fastapi.testclient import TestClient

    from kernel.cli.main import main
    from kernel.service.app import create_app
    from kernel.service.context import open_service
    from kernel.service.tokens import create_token

    out = tmp_path / "demo"
    assert main(["demo", "--enterprises", "20", "--problems", "60", "--out", str(out)]) == 0
    capsys.readouterr()
    context = open_service(db=str(out / "huhang.db"), clock=lambda: NOW)
    try:
        storage = context.ledger.storage
        token = create_token(storage, name="o", unit="助商稳企办", role="office", now=NOW).token
        http = TestClient(create_app(context), headers={"Authorization": f"Bearer {token}"})
        ticket = http.get("/api/v1/tickets?page_size=1").json()["items"][0]
        code = http.get("/api/v1/enterprises").json()["items"][0]["credit_code"]
        year = ticket["ticket_id"].split("-")[1]
        event = {
            "event_id": "demo-route-contact",
            "type": "contact.recorded",
            "date": f"{year}-12-30",
            "actor": "助商稳企办",
            "enterprise": code,
            "payload": {"by": "other", "person": "张三", "method": "电话"},
        }
        zipped_rules = {
            "content": zipped(ROOT / "rules"),
            "headers": {"Content-Type": "application/zip"},
        }
        requests: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
            ("get", "/healthz"): ("/healthz", {}),
            ("get", "/readyz"): ("/readyz", {}),
            ("get", "/metrics"): ("/metrics", {}),
            ("get", "/api/v1/tickets"): (f"/api/v1/tickets?month={year}-03&q=HZ", {}),
            ("get", "/api/v1/tickets/{ticket_id}"): (f"/api/v1/tickets/{ticket['ticket_id']}", {}),
            ("post", "/api/v1/explain"): ("/api/v1/explain", {"json": make_ticket()}),
            ("post", "/api/v1/events"): ("/api/v1/events", {"json": event}),
            ("get", "/api/v1/enterprises"): ("/api/v1/enterprises", {}),
            ("get", "/api/v1/enterprises/{code}"): (f"/api/v1/enterprises/{code}", {}),
            ("get", "/api/v1/reports/monthly"): (f"/api/v1/reports/monthly?month={year}-10", {}),
            ("get", "/api/v1/reports/assessment"): (
                f"/api/v1/reports/assessment?year={year}&format=xlsx",
                {},
            ),
            ("get", "/api/v1/reports/units/{unit}"): (
                f"/api/v1/reports/units/{ticket['primary']}?year={year}&format=md",
                {},
            ),
            ("get", "/api/v1/rules"): ("/api/v1/rules", {}),
            ("post", "/api/v1/rules/check"): ("/api/v1/rules/check", zipped_rules),
            ("post", "/api/v1/rules/impact"): ("/api/v1/rules/impact", zipped_rules),
            ("post", "/api/v1/sweep"): (f"/api/v1/sweep?as_of={year}-12-31", {}),
            ("get", "/api/v1/outbox"): ("/api/v1/outbox", {}),
            ("post", "/api/v1/outbox/retry"): ("/api/v1/outbox/retry", {}),
        }
        document = json.loads((ROOT / "docs" / "reference" / "openapi.json").read_text("utf-8"))
        routes = {(m, p) for p, methods in document["paths"].items() for m in methods}
        assert routes == set(requests)
        for (method, _), (url, kw) in sorted(requests.items()):
            answer = http.request(method.upper(), url, **kw)
            assert answer.status_code == 200, (url, answer.text[:300])
        assert http.get("/api/v1/openapi.json").json() == document
    finally:
        context.close()


# ---------------------------------------------------------------------- metrics of several workers


def test_a_scrape_of_any_worker_counts_every_worker(tmp_path: Path) -> None:
    """``huhang serve --workers N``: each worker's counters reach the others through its file."""
    from kernel.service.metrics import SharedMetrics

    first, second = SharedMetrics(tmp_path, "1"), SharedMetrics(tmp_path, "2")
    try:
        first.event("accepted")
        first.request("POST", "/api/v1/events", 200, 0.02)
        second.event("accepted")
        second.event("rejected", "TRANSITION")
        second.request("POST", "/api/v1/events", 200, 0.3)
        second.sweep(1.5)
        first.flush()
        second.flush()
        for worker in (first, second):
            text = worker.render({"pending": 1})
            assert 'huhang_events_total{result="accepted",reason=""} 2' in text
            assert 'huhang_events_total{result="rejected",reason="TRANSITION"} 1' in text
            route = 'method="POST",route="/api/v1/events"'
            assert f'huhang_http_requests_total{{{route},status="200"}} 2' in text
            assert f'huhang_http_request_duration_seconds_bucket{{{route},le="0.025"}} 1' in text
            assert f"huhang_http_request_duration_seconds_count{{{route}}} 2" in text
            assert "huhang_sweep_duration_seconds_count 1" in text
            assert "huhang_sweep_last_duration_seconds 1.5" in text
        first.event("accepted")  # live counters of the scraped worker count at once
        assert 'reason=""} 3' in first.render({}) and 'reason=""} 2' in second.render({})
    finally:
        first.close()
        second.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["worker-1.json", "worker-2.json"]


def test_a_ticket_is_read_through_the_read_model_without_a_replay(tmp_path: Path) -> None:
    """``GET /tickets/{id}`` on a fresh worker reads the ticket's own events through the read
    model: the worker's projection of the whole ledger is not built for it."""
    cold = make_api(tmp_path / "cold.db")
    try:
        cold.context._snapshot = None  # a worker that has answered no list yet
        body = cold.get(f"/api/v1/tickets/{TICKET_C}?as_of=2026-11-30").json()
        assert body["grade"] == "C" and body["route"]["primary"] == "洋县"
        assert [e["event_id"] for e in body["timeline"]][:2] == ["E-0002", "E-0003"]
        problem(cold.get(f"/api/v1/tickets/{TICKET_C}", "rsj"), 404, "API-NOT-FOUND")
        assert cold.context._snapshot is None
    finally:
        cold.context.close()


def test_q_none_does_not_list_tickets_without_a_value_on_either_path(fresh: Api) -> None:
    """A missing primary unit (an ungraded ticket) is no text: ``q=none`` lists only the
    tickets that hold the word, from the read model and from the replaying list alike."""
    import sqlite3

    from kernel.ledger.readmodel import ReadModel
    from kernel.storage.sqlite import SqliteStorage

    collected = next(e for e in EVENTS if e["type"] == "ticket.collected")
    payload = dict(collected["payload"])
    answer = fresh.post(
        "/api/v1/events",
        json=[
            {**collected, "event_id": "N-1", "ticket_id": "HZ-2026-0091", "date": "2026-11-02",
             "payload": {**payload, "summary": "冷库扩建"}},
            {**collected, "event_id": "N-2", "ticket_id": "HZ-2026-0092", "date": "2026-11-02",
             "payload": {**payload, "summary": "NONE 型号设备进口"}},
        ],
    )  # fmt: skip
    assert answer.status_code == 200 and answer.json()["accepted"] == 2, answer.text
    model = ReadModel(fresh.context.ledger)
    assert model.stored
    assert _ids(fresh.get("/api/v1/tickets?q=none")) == ["HZ-2026-0092"]
    assert _ids(fresh.get("/api/v1/tickets?q=冷库")) == ["HZ-2026-0091"]
    storage = fresh.context.ledger.storage
    assert isinstance(storage, SqliteStorage)
    conn = sqlite3.connect(storage.path)
    conn.execute("UPDATE meta SET value = -1 WHERE key = 'read_model_seq'")  # reads replay
    conn.commit()
    conn.close()
    assert not model.stored
    assert _ids(fresh.get("/api/v1/tickets?q=none")) == ["HZ-2026-0092"]
    assert _ids(fresh.get("/api/v1/tickets?q=冷库")) == ["HZ-2026-0091"]
