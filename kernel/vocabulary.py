"""Every Chinese word the kernel shows for its own terms, once.

Outputs (explanations, notices, reports, spreadsheets, screens, JSON labels) take these words
from here, so a ticket state or an escalation is called the same everywhere. Rule files bring
their own titles; these are the words for the kernel's fixed vocabulary.
"""

from __future__ import annotations

#: problem grades, least to most serious: A 一般咨询, B 单一部门, C 多部门协调, D 重大
GRADES: tuple[str, ...] = ("A", "B", "C", "D")

#: ticket states (the projection's ``state``)
TICKET_STATE_WORDS: dict[str, str] = {
    "collected": "已收集",
    "reported": "已上报",
    "graded": "已分级",
    "dispatched": "办理中",
    "resolved": "已办结",
    "feedback_given": "已反馈",
    "rated": "已评价",
    "closed": "已关闭",
    "returned": "已退回",
    "suspended": "已挂起",
    "disputed": "回访有异议",
    "withdrawn": "已撤回",
    "rejected": "不予受理",
    "merged": "已合并",
    "referred": "已报上级",
    "sent_back": "已退回下级",
}

#: states in which a problem's life has ended (no clock runs, no step but a callback)
FINAL_STATES: tuple[str, ...] = ("closed", "withdrawn", "rejected", "merged", "sent_back")

#: states that take a problem out of the closure-rate denominator (docs/policy.md §8.6)
NOT_COUNTED_STATES: tuple[str, ...] = ("withdrawn", "rejected", "merged", "sent_back")

#: clock states (a deadline clock's ``state``)
CLOCK_STATE_WORDS: dict[str, str] = {
    "running": "计时中",
    "warning": "预警",
    "met": "按时完成",
    "breached": "超期",
    "undecided": "未能计算",
    "cancelled": "已取消",  # the step it timed was taken away (退回, 撤回, 不予受理, 合并)  # needs a year the working-day calendar has no data for
}

#: after a date (or count) computed through a provisional calendar year
PROVISIONAL_MARK = "（暂定）"

#: the steps of the escalation ladder, as the rules name them (``action`` in deadlines.yaml)
ESCALATION_WORDS: dict[str, str] = {
    "supervision": "督办",
    "notice": "通报",
    "interview": "约谈",
}

#: what the sweep issues for each kind of notice: a 约谈 is only recommended by the kernel (the
#: leading group decides to hold it), so its notice and its ledger event say 约谈建议. These words
#: also start the ids of the sweep's events (``督办:HZ-1:T-RESOLVE#1:…``): never change them.
NOTICE_KIND_WORDS: dict[str, str] = {
    "warning": "预警",
    "supervision": "督办",
    "notice": "通报",
    "interview": "约谈建议",
    "report": "报告",
}

#: who a clock runs for (``owner`` in deadlines.yaml)
OWNER_WORDS: dict[str, str] = {
    "primary": "主办单位",
    "co_handlers": "协办单位",
    "lead_unit": "包抓单位",
    "feedback_owner": "反馈责任单位",
    "office": "助商稳企办",
    "cadre": "对口服务干部",
}

#: the slots of a route (a routing rule's outcome)
ROUTE_SLOT_WORDS: dict[str, str] = {
    "primary": "主办单位",
    "co_handlers": "协办单位",
    "feedback_owner": "反馈责任单位",
    "coordinators": "协调单位",
    "agenda": "列入调度会议程",
    "report_upward": "报领导小组",
}

#: the kinds of unit an assessment may take in scope (``scope`` in scoring.yaml)
UNIT_KIND_WORDS: dict[str, str] = {
    "territories": "县区",
    "departments": "市级部门",
    "offices": "协调机构",
    "others": "其他",
}

#: the same kinds of unit at a county or zone level (its 块 are towns, its 条 its own departments)
LOWER_UNIT_KIND_WORDS: dict[str, str] = {
    "territories": "镇（街道）",
    "departments": "县区部门",
    "offices": "协调机构",
    "others": "其他",
}

#: ledger event types
EVENT_TYPE_WORDS: dict[str, str] = {
    "enterprise.registered": "企业登记",
    "enterprise.changed": "包抓关系变更",
    "ticket.collected": "问题收集",
    "ticket.reported": "上报",
    "ticket.graded": "分级",
    "ticket.overridden": "改判",
    "ticket.dispatched": "交办",
    "ticket.progress_reported": "进展报告",
    "ticket.resolved": "办结",
    "ticket.feedback_given": "反馈企业",
    "ticket.rated": "满意度评价",
    "ticket.reopened": "重新办理",
    "ticket.returned": "退回",
    "ticket.rerouted": "重新交办",
    "ticket.extension_requested": "延期申请",
    "ticket.extension_granted": "延期批准",
    "ticket.extension_refused": "延期不予批准",
    "ticket.suspended": "挂起",
    "ticket.resumed": "恢复办理",
    "ticket.withdrawn": "企业撤回",
    "ticket.rejected": "不予受理",
    "ticket.merged": "合并",
    "ticket.callback_recorded": "电话回访",
    "ticket.reopen_declined": "不予重新办理",
    "ticket.referred_up": "报上级协调",
    "ticket.upper_resolved": "上级办结",
    "ticket.upper_declined": "上级退回",
    "contact.recorded": "走访联系",
    "supervision.issued": "督办",
    "notice.published": "通报",
    "interview.recommended": "约谈建议",
    "report.published": "发布月度通报",
    "spot_check.defect": "抽查发现台账问题",
}

#: who may take a step of a problem's life (``actors`` in lifecycle.yaml)
ACTOR_WORDS: dict[str, str] = {
    "office": "助商稳企办",
    "primary": "主办单位",
    "handler": "办理单位（主办或协办）",
    "lead_unit": "包抓单位",
    "feedback_owner": "反馈责任单位",
}

#: yes and no in tables and spreadsheets
YES, NO = "是", "否"


def yes_no(value: bool) -> str:
    """是 or 否."""
    return YES if value else NO


#: the level of a rule folder without level.yaml (分层分级: the top of the chain)
TOP_LEVEL_CODE, TOP_LEVEL_NAME = "city", "市级"

#: columns of ``huhang rules show --resolved`` and words of ``huhang level``
LEVEL_WORDS: dict[str, str] = {
    "list": "所在列表",
    "id": "编号",
    "title": "标题",
    "level": "来自层级",
    "where": "位置",
    "replaces": "替换了",
    "chain": "层级",
    "carried_up": "已送达上级",
    "carried_down": "已回传本级",
    "dispatched_down": "上级交办、已送达本级",
    "resolved_up": "本级办结、已报上级",
    "waiting": "待上级办理",
}


#: API roles (``huhang token create --role``, ``huhang serve``)
ROLE_WORDS: dict[str, str] = {
    "office": "办公室",
    "unit": "责任单位",
    "auditor": "审计",
}

#: what became of one event submitted over the API
EVENT_RESULT_WORDS: dict[str, str] = {
    "accepted": "已接受",
    "duplicate": "重复（已存在，未改变）",
    "rejected": "已拒绝",
}

#: the title of each problem code the API answers with (RFC 9457 ``title``)
API_PROBLEM_TITLES: dict[str, str] = {
    "API-AUTH": "未认证：缺少、无效、过期或已吊销的访问令牌",
    "API-FORBIDDEN": "无权执行此操作",
    "API-ACTOR": "不能以其他单位的名义提交事件",
    "API-NOT-FOUND": "未找到",
    "API-BODY-SIZE": "请求体过大",
    "API-JSON": "请求体不是有效的 JSON",
    "API-JSON-DEPTH": "JSON 嵌套过深",
    "API-PARAMETER": "请求参数无效",
    "API-INPUT": "输入有误",
    "API-ARCHIVE": "规则压缩包无效",
    "API-FORMAT": "不支持的输出格式",
    "API-UNAVAILABLE": "服务暂不可用",
}
