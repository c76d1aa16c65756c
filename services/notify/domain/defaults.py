"""The rules and templates a new installation starts with (NTF-02, NTF-03).

Each has a stable key; the service adds the ones it has not added before at start, so a
default an admin deleted stays deleted and a default added in a later release appears.
Events of services that are not part of this build yet need only rows like these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DefaultTemplate:
    key: str
    name: str
    event_type: str | None
    bodies: dict[str, dict[str, str]]


@dataclass(frozen=True)
class DefaultRule:
    key: str
    name: str
    event_type: str
    template: str
    recipients: list[str]
    channels: list[str]
    category: str = "transactional"
    condition: str | None = None
    timing: dict[str, Any] | None = field(default=None)


def _t(key: str, event_type: str | None, name: str, zh: tuple[str, str],
       en: tuple[str, str], html: tuple[str, str] | None = None) -> DefaultTemplate:
    bodies = {"zh-CN": {"subject": zh[0], "text": zh[1]},
              "en": {"subject": en[0], "text": en[1]}}
    if html:
        bodies["zh-CN"]["html"], bodies["en"]["html"] = html
    return DefaultTemplate(key, name, event_type, bodies)


TEMPLATES = [
    _t("customer_assigned", "customer.owner_changed", "Customer assigned to you",
       ("客户 {{ data.name }} 已分配给您", "客户 {{ data.name }}（{{ data.code }}）现由您负责。"),
       ("Customer {{ data.name }} is now yours",
        "Customer {{ data.name }} ({{ data.code }}) is now assigned to you.")),
    _t("customer_new_contact_person", "customer.owner_changed",
       "Your new contact person (to the customer's contacts)",
       ("您的专属客户经理已变更为{{ owner.display_name }}",
        "尊敬的{{ recipient.name }}：\n\n自即日起，{{ data.name }}的专属客户经理为"
        "{{ owner.display_name }}{% if owner.phone %}（电话 {{ owner.phone }}）{% endif %}"
        "{% if owner.email %}，邮箱 {{ owner.email }}{% endif %}。\n"),
       ("Your contact person is now {{ owner.display_name }}",
        "Dear {{ recipient.name }},\n\nFrom today your contact person for {{ data.name }} "
        "is {{ owner.display_name }}{% if owner.phone %} (phone {{ owner.phone }})"
        "{% endif %}{% if owner.email %}, email {{ owner.email }}{% endif %}.\n"),
       ("<p>尊敬的{{ recipient.name }}：</p><p>自即日起，{{ data.name }}的专属客户经理为"
        "<strong>{{ owner.display_name }}</strong>。</p>",
        "<p>Dear {{ recipient.name }},</p><p>From today your contact person for "
        "{{ data.name }} is <strong>{{ owner.display_name }}</strong>.</p>")),
    _t("followup_due", "followup.due", "Follow-up due",
       ("今天需跟进客户 {{ customer.name }}", "提醒：客户 {{ customer.name }} 的跟进日期为"
        " {{ data.due_on }}。"),
       ("Follow-up due: {{ customer.name }}",
        "Reminder: the follow-up with {{ customer.name }} is due on {{ data.due_on }}.")),
    _t("visit_reminder", "visit_plan.appointed", "Visit reminder",
       ("拜访提醒：{{ customer.name }}", "您与 {{ customer.name }} 的拜访安排在"
        " {{ data.planned_at }}。"),
       ("Visit reminder: {{ customer.name }}",
        "Your visit to {{ customer.name }} is planned for {{ data.planned_at }}.")),
    _t("invoice_overdue", "invoice.overdue", "Invoice overdue",
       ("发票 {{ data.number }} 已逾期", "客户 {{ customer.name }} 的发票 {{ data.number }}"
        " 于 {{ data.due_date }} 到期，尚欠 {{ data.outstanding }} {{ data.currency }}。"),
       ("Invoice {{ data.number }} is overdue",
        "Invoice {{ data.number }} of {{ customer.name }} was due on {{ data.due_date }}; "
        "{{ data.outstanding }} {{ data.currency }} is outstanding.")),
    _t("dunning_step", "invoice.dunning_step", "Payment reminder (dunning step)",
       ("付款提醒：发票 {{ data.number }}", "尊敬的{{ recipient.name }}：发票 {{ data.number }}"
        " 尚有 {{ data.outstanding }} {{ data.currency }} 未付，请尽快安排付款。"),
       ("Payment reminder: invoice {{ data.number }}",
        "Dear {{ recipient.name }}, {{ data.outstanding }} {{ data.currency }} of invoice "
        "{{ data.number }} is still unpaid; please arrange payment.")),
    _t("quote_approval", "quote.submitted", "Quote discount needs approval",
       ("报价 {{ data.number }} 待审批", "报价 {{ data.number }}（最大折扣 "
        "{{ data.max_discount_percent }}%）等待您审批。"),
       ("Quote {{ data.number }} needs your approval",
        "Quote {{ data.number }} (largest discount {{ data.max_discount_percent }}%) "
        "waits for your approval.")),
    _t("expense_approval", "expense.submitted", "Expense needs approval",
       ("费用报销待审批", "一笔 {{ data.amount }} {{ data.currency }} 的{{ data.category }}"
        "费用等待您审批。"),
       ("An expense needs your approval",
        "An expense of {{ data.amount }} {{ data.currency }} ({{ data.category }}) waits "
        "for your approval.")),
    _t("credit_exceeded", "credit.limit_exceeded", "Order over the credit limit",
       ("订单超出信用额度", "客户 {{ customer.name }} 的订单金额 {{ data.amount }}"
        " {{ data.currency }} 超出信用额度，需要审批。"),
       ("An order exceeds the credit limit",
        "An order of {{ data.amount }} {{ data.currency }} for {{ customer.name }} exceeds "
        "the credit limit and needs approval.")),
    _t("maintenance_due", "order.delivered", "Maintenance due",
       ("设备保养提醒", "尊敬的{{ recipient.name }}：您于 {{ data.delivered_on }} 交付的"
        "订单 {{ data.number }} 已到保养时间，我们将与您联系安排服务。"),
       ("Maintenance due", "Dear {{ recipient.name }}, order {{ data.number }} delivered on "
        "{{ data.delivered_on }} is due for service; we will contact you to arrange it.")),
    _t("work_order_dispatched", "work_order.dispatched", "Work order dispatched to you",
       ("新派工单 {{ data.number }}：{{ data.ticket_subject }}",
        "工单 {{ data.number }}（服务单 {{ data.ticket_number }}）已派给您："
        "{{ data.ticket_subject }}。\n客户：{{ data.customer_name or customer.name }}"
        "{% if data.address %}\n地址：{{ data.address }}{% endif %}"
        "{% if data.scheduled_at %}\n预约时间：{{ data.scheduled_at }}{% endif %}\n"
        "请尽快确认接单。\n"),
       ("Work order {{ data.number }} dispatched to you: {{ data.ticket_subject }}",
        "Work order {{ data.number }} (ticket {{ data.ticket_number }}) is yours: "
        "{{ data.ticket_subject }}.\nCustomer: {{ data.customer_name or customer.name }}"
        "{% if data.address %}\nAddress: {{ data.address }}{% endif %}"
        "{% if data.scheduled_at %}\nScheduled: {{ data.scheduled_at }}{% endif %}\n"
        "Please confirm it.\n")),
    _t("ticket_sla_breached", "ticket.sla_breached", "Ticket SLA breached",
       ("服务单 {{ data.number }} 已超时（{{ data.target }}）",
        "服务单 {{ data.number }}「{{ data.ticket_subject }}」（客户 {{ data.customer_name }}）"
        "的 {{ data.target }} 时限 {{ data.due_at }} 已过，未达成。"
        "{% if data.escalated_to_id %}已升级（第 {{ data.escalation_level }} 级）。{% endif %}\n"),
       ("Ticket {{ data.number }} breached its {{ data.target }} target",
        "Ticket {{ data.number }} \"{{ data.ticket_subject }}\" ({{ data.customer_name }}) "
        "missed its {{ data.target }} target due {{ data.due_at }}."
        "{% if data.escalated_to_id %} It is escalated (level "
        "{{ data.escalation_level }}).{% endif %}\n")),
    _t("ticket_escalated", "ticket.escalated", "Ticket escalated to you",
       ("服务单 {{ data.number }} 已升级给您",
        "服务单 {{ data.number }}「{{ data.ticket_subject }}」（客户 {{ data.customer_name }}）"
        "已升级给您（第 {{ data.level }} 级），原因：{{ data.reason }}。\n"),
       ("Ticket {{ data.number }} is escalated to you",
        "Ticket {{ data.number }} \"{{ data.ticket_subject }}\" ({{ data.customer_name }}) "
        "is escalated to you (level {{ data.level }}): {{ data.reason }}.\n")),
    # documents: the events name a document by id only (a title may itself be secret)
    _t("document_borrow_requested", "document.access_requested",
       "Document borrowing needs approval",
       ("文档借阅申请待审批", "有同事申请借阅文档 {{ data.id }}，共 {{ data.days }} 天"
        "（申请编号 {{ data.request_id }}），请审批。\n"),
       ("A document borrowing needs your approval",
        "A colleague asks to borrow document {{ data.id }} for {{ data.days }} days "
        "(request {{ data.request_id }}); please approve or reject it.\n")),
    _t("document_borrow_approved", "document.access_granted", "Document borrowing approved",
       ("您的文档借阅申请已批准", "您借阅文档 {{ data.id }} 的申请已批准，有效期至"
        " {{ data.expires_at }}。\n"),
       ("Your document borrowing is approved",
        "Your request to borrow document {{ data.id }} is approved until "
        "{{ data.expires_at }}.\n")),
    _t("document_borrow_rejected", "document.access_rejected", "Document borrowing rejected",
       ("您的文档借阅申请未获批准", "您借阅文档 {{ data.id }} 的申请未获批准。"
        "{% if data.comment %}\n说明：{{ data.comment }}{% endif %}\n"),
       ("Your document borrowing is rejected",
        "Your request to borrow document {{ data.id }} is rejected."
        "{% if data.comment %}\nComment: {{ data.comment }}{% endif %}\n")),
    # sent by request (send_portal_invite), never from an event: the token is a secret
    _t("portal_invite", None, "Customer portal invitation (SVC-07)",
       ("客户服务门户邀请",
        "尊敬的{{ recipient.name }}（{{ data.customer_name }}）：\n\n"
        "我们邀请您使用客户服务门户，在线提交服务请求、查看处理进度。"
        "请在 {{ data.expires_at }} 前用以下邀请码设置密码：\n\n"
        "{{ data.invite_token }}\n\n{% if data.accept_url %}设置地址：{{ data.accept_url }}\n"
        "{% endif %}登录名：{{ data.username }}\n"),
       ("Your invitation to the customer service portal",
        "Dear {{ recipient.name }},\n\nyou are invited, as a contact of "
        "{{ data.customer_name }}, to our customer service portal to raise requests and "
        "follow them online. Set your password with this invitation code before "
        "{{ data.expires_at }}:\n\n{{ data.invite_token }}"
        "\n\n{% if data.accept_url %}Where: {{ data.accept_url }}\n{% endif %}"
        "Username: {{ data.username }}\n")),
    _t("birthday", None, "Birthday greeting",
       ("生日快乐，{{ recipient.name }}", "{{ recipient.name }}，祝您生日快乐，万事如意！"),
       ("Happy birthday, {{ recipient.name }}",
        "Happy birthday, {{ recipient.name }}! Best wishes from all of us.")),
    _t("holiday", None, "Holiday greeting",
       ("{{ holiday.name }}快乐", "{{ recipient.name }}，值此{{ holiday.name }}之际，"
        "恭祝您节日快乐！"),
       ("Happy {{ holiday.name }}",
        "Dear {{ recipient.name }}, our best wishes for {{ holiday.name }}!")),
]

RULES = [
    DefaultRule("customer_assigned", "Customer assigned: tell the new owner",
                "customer.owner_changed", "customer_assigned", ["owner"], ["inbox"],
                condition="data.owner_id"),
    DefaultRule("customer_handed_over", "Customer handed over: tell its contacts their new "
                "contact person (CUS-07)", "customer.owner_changed",
                "customer_new_contact_person", ["customer_contacts"], ["email"],
                condition="data.owner_id and data.previous_owner_id"),
    DefaultRule("followup_due", "Follow-up due: remind the owner at 09:00", "followup.due",
                "followup_due", ["owner"], ["inbox"], timing={"field": "due_on",
                                                              "at": "09:00"}),
    DefaultRule("visit_reminder", "Visit appointed: remind the owner an hour before",
                "visit_plan.appointed", "visit_reminder", ["owner"], ["inbox"],
                timing={"field": "planned_at", "offset_minutes": -60}),
    DefaultRule("invoice_overdue", "Invoice overdue: tell the owner and their manager",
                "invoice.overdue", "invoice_overdue", ["owner", "owner_manager"],
                ["inbox"]),
    DefaultRule("dunning_step_staff", "Dunning step: tell the owner (and the manager when "
                "escalated)", "invoice.dunning_step", "dunning_step", ["owner", "manager"],
                ["inbox"]),
    DefaultRule("dunning_step_customer", "Dunning step: remind the customer's contacts",
                "invoice.dunning_step", "dunning_step", ["customer_contacts"], ["email"]),
    DefaultRule("quote_approval", "Quote over the discount threshold: ask the approver",
                "quote.submitted", "quote_approval", ["approver"], ["inbox", "email"]),
    DefaultRule("expense_approval", "Expense submitted: ask the approver",
                "expense.submitted", "expense_approval", ["approver"], ["inbox"]),
    DefaultRule("credit_exceeded", "Order over credit: tell the owner's manager",
                "credit.limit_exceeded", "credit_exceeded", ["owner", "owner_manager"],
                ["inbox"]),
    DefaultRule("work_order_dispatched", "Work order dispatched: tell the technician",
                "work_order.dispatched", "work_order_dispatched", ["technician"],
                ["inbox", "email"]),
    DefaultRule("ticket_sla_breached", "SLA breached: tell the assignee and whoever the "
                "ticket escalated to", "ticket.sla_breached", "ticket_sla_breached",
                ["assignee", "escalated_to"], ["inbox", "email"]),
    # a breach's escalation is told by the breach's own message (above)
    DefaultRule("ticket_escalated", "Ticket escalated: tell whoever it escalated to",
                "ticket.escalated", "ticket_escalated", ["escalated_to"],
                ["inbox", "email"], condition="not data.reason.startswith('sla_breached')"),
    DefaultRule("document_borrow_requested", "Document borrowing requested: ask the "
                "document's owner and the archive managers", "document.access_requested",
                "document_borrow_requested", ["owner", "archivists"], ["inbox"]),
    DefaultRule("document_borrow_approved", "Document borrowing approved: tell the borrower",
                "document.access_granted", "document_borrow_approved", ["requester"],
                ["inbox"]),
    DefaultRule("document_borrow_rejected", "Document borrowing rejected: tell the borrower",
                "document.access_rejected", "document_borrow_rejected", ["requester"],
                ["inbox"]),
    DefaultRule("maintenance_due", "Maintenance due: first service 90 days after delivery, "
                "then every 180 days", "order.delivered", "maintenance_due",
                ["customer_contacts", "owner"], ["email", "inbox"], category="care",
                timing={"field": "delivered_on", "offset_minutes": 90 * 24 * 60,
                        "at": "10:00", "repeat_days": 180}),
    DefaultRule("birthday", "Birthday greetings to contacts", "schedule.birthday",
                "birthday", ["customer_contacts"], ["email"], category="care",
                timing={"field": "date", "at": "09:00"}),
    DefaultRule("holiday", "Holiday greetings to contacts (admin calendar)",
                "schedule.holiday", "holiday", ["customer_contacts"], ["email"],
                category="care", timing={"field": "date", "at": "09:00"}),
]
