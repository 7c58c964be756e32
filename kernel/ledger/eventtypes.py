"""The ledger's event types and their Chinese names (shared by the schemas and the ledger)."""

from __future__ import annotations

EVENT_TYPES: dict[str, str] = {
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
    "contact.recorded": "走访联系",
    "supervision.issued": "督办",
    "notice.published": "通报",
    "interview.recommended": "约谈建议",
    "report.published": "发布月度通报",
    "spot_check.defect": "抽查发现台账问题",
}
