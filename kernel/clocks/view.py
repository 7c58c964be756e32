"""Chinese text for clock results, in the style of ``huhang explain``."""

from __future__ import annotations

from collections.abc import Mapping

from kernel.clocks.compute import BREACHED, CANCELLED, ClockInstance, TicketClocks, due_text, marked
from kernel.clocks.monthly import MissedContact, OfficeDuty
from kernel.ledger.projection import TicketState
from kernel.rules.deadlines import DeadlineRules
from kernel.vocabulary import (
    CLOCK_STATE_WORDS,
    NOTICE_KIND_WORDS,
    OWNER_WORDS,
    PROVISIONAL_MARK,
)


def clock_label(item: ClockInstance) -> str:
    """A clock instance as a reader knows it: the clock's title, with its round or month.

    ``交办后按等级限期办结（…）`` for the first round, ``…（第 2 轮）`` after a reopening,
    ``…（2026-04）`` for a monthly clock.
    """
    if item.month:
        return f"{item.clock.title}（{item.month}）"
    if item.round > 1:
        return f"{item.clock.title}（第 {item.round} 轮）"
    return item.clock.title


def key_label(key: str, titles: Mapping[str, str]) -> str:
    """A clock instance key (``T-RESOLVE#2``, ``T-PROGRESS-D@2026-04``) as :func:`clock_label`
    words it, given the clock titles by id; a key of an unknown clock is returned as it is."""
    clock_id, sep, rest = key.partition("#")
    if sep and clock_id in titles and rest.isdigit():
        number = int(rest)
        return titles[clock_id] + (f"（第 {number} 轮）" if number > 1 else "")
    clock_id, sep, month = key.partition("@")
    if sep and clock_id in titles:
        return f"{titles[clock_id]}（{month}）"
    return key


def clock_titles(deadlines: DeadlineRules | None) -> dict[str, str]:
    """Clock id -> title, for :func:`key_label`."""
    return {c.id: c.title for c in deadlines.clocks} if deadlines is not None else {}


def _instance_lines(item: ClockInstance) -> list[str]:
    clock = item.clock
    head = f"{item.key}「{clock.title}」 {clock.path}:{clock.line}"
    limit = (
        f"时限 {item.limit} 个工作日"
        if item.limit is not None
        else f"{item.month} 月最后一个工作日前报送"
    )
    added = []
    if item.extended_workdays:
        added.append(f"批准延期 {item.extended_workdays} 个工作日")
    if item.paused_workdays:
        added.append(f"暂停 {item.paused_workdays} 个工作日顺延")
    if added:
        limit += f"（{'，'.join(added)}）"
    lines = [head, f"  依据：{clock.clause}"]
    if item.state == CANCELLED:
        lines.append(f"  开始：{item.start}（事件 {item.start_event}）；{limit}")
        lines.append(f"  取消：{item.stop}（事件 {item.stop_event}），不计超期，不计入办结率")
    else:
        lines.append(
            f"  开始：{item.start}（事件 {item.start_event}）；{limit} → 到期 {due_text(item)}"
        )
    if item.stop is not None and item.state != CANCELLED:
        lines.append(f"  完成：{item.stop}（事件 {item.stop_event}）")
    state = CLOCK_STATE_WORDS[item.state]
    if item.state == BREACHED:
        if item.overdue_workdays is not None:
            mark = PROVISIONAL_MARK if item.provisional else ""
            state += f" {item.overdue_workdays} 个工作日{mark}"
    elif item.warning_on is not None and item.stop is None:
        state += f"（{marked(item.warning_on, item.due_provisional)} 起预警）"
    if item.undecided:
        state += f"（{item.undecided.removeprefix('的')}）"
    elif item.warning_undecided:
        state += f"（是否预警需要 {item.missing_year} 年日历）"
    owners = "、".join(item.owners) or "（未确定）"
    role = OWNER_WORDS.get(clock.owner, clock.owner)
    who = owners if role == owners else f"{role} {owners}"
    lines.append(f"  状态：{state}；责任：{who}")
    for esc in item.escalations:
        month = f"（{esc.month} 通报）" if esc.month and esc.step.action != "supervision" else ""
        if esc.repeat:
            month = f"（仍超期，列入 {esc.month} 通报）"
        lines.append(
            f"  {NOTICE_KIND_WORDS.get(esc.step.action, esc.step.action)}："
            f"{marked(esc.day, esc.provisional)} "
            f"{esc.step.id}「{esc.step.title}」{month} → {'、'.join(esc.units)}"
        )
    return lines


def render_clocks(result: TicketClocks, state: TicketState) -> str:
    """Every clock of one ticket, as of the evaluation date."""
    grade = f"{result.grade} 级" if result.grade else "未分级"
    lines = [
        f"━━ 办理单 {result.ticket_id}（{grade}，{state.state_label}）时限情况，截至 {result.as_of} ━━"
    ]
    if result.provisional:
        lines.append(
            "注：标注“暂定”的日期按暂定日历计算（该年放假安排尚未公布，未计调休），"
            "正式通知公布后可能变化"
        )
    if not result.instances:
        lines.append("（尚无开始计时的时限）")
    for item in result.instances:
        lines.extend(_instance_lines(item))
    due = result.escalations
    lines.append(f"应发出的督办事项：{len(due)} 项" if due else "应发出的督办事项：无")
    return "\n".join(lines)


def render_missed(items: list[MissedContact]) -> str:
    """The enterprise-months without a contact."""
    if not items:
        return "所有企业每月均有包抓领导或对口服务干部联系。"
    lines = [f"未按月联系的企业（共 {len(items)} 个企业月）："]
    for item in items:
        who = "、".join(x for x in (item.lead_leader, item.liaison_cadre) if x) or "未登记联系人"
        lines.append(
            f"  {item.month} {item.name}（{item.enterprise}） 包抓单位 {item.lead_unit}（{who}）："
            f"联系 {item.contacts} 次，应不少于 {item.required} 次"
        )
    return "\n".join(lines)


def render_office(items: list[OfficeDuty]) -> str:
    """The office's monthly duties."""
    lines = []
    for item in items:
        done = f"{item.done_on} 完成" if item.done_on else "尚未完成"
        state = CLOCK_STATE_WORDS.get(item.state, item.state)
        if item.state == BREACHED:
            state += f" {item.overdue_workdays} 个工作日"
        lines.append(f"  {item.month} 月度通报：应于 {item.due} 前发布，{done}（{state}）")
    return "\n".join(lines)
