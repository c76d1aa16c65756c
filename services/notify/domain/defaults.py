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
