"""Notification service operations (NTF-01 … NTF-07), one line each."""

from __future__ import annotations

from gateway.routetable import Route
from services.notify import schemas as s

INBOX = ("inbox",)
TEMPLATES = ("notification templates",)
RULES = ("notification rules",)
DELIVERIES = ("deliveries",)
SETTINGS = ("notification settings",)
WEBHOOKS = ("webhooks",)
INBOUND = ("inbound webhooks",)

ROUTES = [
    # -- in-app inbox (NTF-01) -----------------------------------------------------------
    Route("GET", "/inbox", "notify", "list_inbox", "inbox:read", query=s.InboxQuery,
          response=s.InboxPage, tags=INBOX, summary="My messages, newest first"),
    Route("GET", "/inbox/unread-count", "notify", "inbox_unread_count", "inbox:read",
          response=s.UnreadCount, tags=INBOX),
    Route("POST", "/inbox/{message_id}/read", "notify", "mark_inbox_read", "inbox:write",
          response=s.InboxMessage, tags=INBOX),
    Route("POST", "/inbox/read-all", "notify", "mark_inbox_all_read", "inbox:write",
          response=s.MarkedRead, tags=INBOX),
    # -- templates (NTF-04) ----------------------------------------------------------------
    Route("POST", "/templates", "notify", "create_template", "notification:configure",
          body=s.TemplateIn, response=s.Template, status=201, tags=TEMPLATES,
          summary="A jinja2 template per locale; an unknown variable is a 422"),
    Route("GET", "/templates", "notify", "list_templates", "notification:read",
          query=s.Query, response=s.TemplatePage, tags=TEMPLATES),
    Route("GET", "/templates/{template_id}", "notify", "get_template", "notification:read",
          response=s.Template, tags=TEMPLATES),
    Route("PATCH", "/templates/{template_id}", "notify", "update_template",
          "notification:configure", body=s.TemplateUpdate, response=s.Template,
          if_match=True, tags=TEMPLATES),
    Route("DELETE", "/templates/{template_id}", "notify", "delete_template",
          "notification:configure", response=s.Template, tags=TEMPLATES),
    Route("POST", "/templates/{template_id}/preview", "notify", "preview_template",
          "notification:read", body=s.PreviewRequest, response=s.Preview, tags=TEMPLATES,
          summary="Render with sample data in a locale"),
    # -- rules (NTF-02, NTF-03) --------------------------------------------------------------
    Route("POST", "/notification-rules", "notify", "create_rule", "notification:configure",
          body=s.RuleIn, response=s.Rule, status=201, tags=RULES,
          summary="Event type (or pattern) → recipients, channels, template"),
    Route("GET", "/notification-rules", "notify", "list_rules", "notification:read",
          query=s.RuleQuery, response=s.RulePage, tags=RULES),
    Route("GET", "/notification-rules/{rule_id}", "notify", "get_rule", "notification:read",
          response=s.Rule, tags=RULES),
    Route("PATCH", "/notification-rules/{rule_id}", "notify", "update_rule",
          "notification:configure", body=s.RuleUpdate, response=s.Rule, if_match=True,
          tags=RULES),
    Route("DELETE", "/notification-rules/{rule_id}", "notify", "delete_rule",
          "notification:configure", response=s.Rule, tags=RULES),
    # -- consent, calendar, scheduler (NTF-03, NTF-05) ------------------------------------------
    Route("GET", "/notification-settings", "notify", "get_consent_settings",
          "notification:read", response=s.ConsentSettings, tags=SETTINGS),
    Route("PUT", "/notification-settings", "notify", "put_consent_settings",
          "notification:configure", body=s.ConsentSettings, response=s.ConsentSettings,
          tags=SETTINGS, summary="Time zone, quiet hours, frequency caps"),
    Route("POST", "/holidays", "notify", "create_holiday", "notification:configure",
          body=s.HolidayIn, response=s.Holiday, status=201, tags=SETTINGS,
          summary="A day of the care calendar (holiday greetings)"),
    Route("GET", "/holidays", "notify", "list_holidays", "notification:read",
          query=s.Query, response=s.HolidayPage, tags=SETTINGS),
    Route("DELETE", "/holidays/{holiday_id}", "notify", "delete_holiday",
          "notification:configure", response=s.Holiday, tags=SETTINGS),
    Route("POST", "/notification-jobs/run", "notify", "run_scheduler",
          "notification:configure", body=s.SchedulerRun, response=s.SchedulerResult,
          tags=SETTINGS, timeout=120,
          summary="Run reminders and the care calendar now, as of a time"),
    # -- sending and the delivery log (NTF-05, NTF-06) --------------------------------------------
    Route("POST", "/notifications", "notify", "send_notification", "notification:send",
          body=s.NotificationIn, response=s.NotificationResult, status=201,
          tags=DELIVERIES, summary="Send a template to contacts, customers' contacts or "
          "users, under the consent rules"),
    Route("GET", "/deliveries", "notify", "list_notification_deliveries", "notification:read",
          query=s.DeliveryQuery, response=s.DeliveryPage, tags=DELIVERIES,
          summary="The delivery log: queued → sent → delivered / failed / suppressed"),
    Route("GET", "/deliveries/{delivery_id}", "notify", "get_notification_delivery",
          "notification:read",
          response=s.Delivery, tags=DELIVERIES),
    Route("POST", "/deliveries/{delivery_id}/retry", "notify", "retry_notification_delivery",
          "notification:send", response=s.Delivery, tags=DELIVERIES,
          summary="Send a failed message again"),
    # -- outbound webhooks (NTF-07) -----------------------------------------------------------
    Route("POST", "/webhooks", "notify", "create_webhook", "webhook:manage",
          body=s.WebhookIn, response=s.WebhookWithSecret, status=201, tags=WEBHOOKS,
          summary="Subscribe a URL to event types (`invoice.*`); the signing secret is "
          "returned once"),
    Route("GET", "/webhooks", "notify", "list_webhooks", "webhook:manage", query=s.Query,
          response=s.WebhookPage, tags=WEBHOOKS),
    Route("GET", "/webhooks/{endpoint_id}", "notify", "get_webhook", "webhook:manage",
          response=s.Webhook, tags=WEBHOOKS),
    Route("PATCH", "/webhooks/{endpoint_id}", "notify", "update_webhook", "webhook:manage",
          body=s.WebhookUpdate, response=s.Webhook, if_match=True, tags=WEBHOOKS),
    Route("DELETE", "/webhooks/{endpoint_id}", "notify", "delete_webhook", "webhook:manage",
          response=s.Webhook, tags=WEBHOOKS),
    Route("POST", "/webhooks/{endpoint_id}/enable", "notify", "enable_webhook",
          "webhook:manage", response=s.Webhook, tags=WEBHOOKS),
    Route("POST", "/webhooks/{endpoint_id}/disable", "notify", "disable_webhook",
          "webhook:manage", response=s.Webhook, tags=WEBHOOKS),
    Route("POST", "/webhooks/{endpoint_id}/rotate-secret", "notify",
          "rotate_webhook_secret", "webhook:manage", body=s.RotateSecret,
          response=s.WebhookWithSecret, tags=WEBHOOKS,
          summary="A new secret (returned once); the old one also signs for the overlap"),
    Route("GET", "/webhooks/{endpoint_id}/deliveries", "notify", "list_webhook_deliveries",
          "webhook:manage", query=s.WebhookDeliveryQuery, response=s.WebhookDeliveryPage,
          tags=WEBHOOKS, summary="Deliveries with every attempt's response code"),
    Route("POST", "/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay", "notify",
          "replay_webhook_delivery", "webhook:manage", response=s.WebhookDelivery,
          tags=WEBHOOKS),
    Route("POST", "/webhooks/{endpoint_id}/replay", "notify", "replay_webhook_deliveries",
          "webhook:manage", body=s.ReplaySince, response=s.Replayed, tags=WEBHOOKS,
          summary="Send everything (or what failed) since a time again"),
    # -- inbound lead capture -------------------------------------------------------------------
    Route("POST", "/inbound-sources", "notify", "create_inbound_source", "webhook:manage",
          body=s.InboundSourceIn, response=s.InboundSourceWithSecret, status=201,
          tags=INBOUND, summary="A lead source; its signing secret is returned once"),
    Route("GET", "/inbound-sources", "notify", "list_inbound_sources", "webhook:manage",
          query=s.Query, response=s.InboundSourcePage, tags=INBOUND),
    Route("POST", "/inbound/{source}/leads", "notify", "receive_inbound_lead", "",
          response=s.InboundLeadAccepted, status=202, public=True, tags=INBOUND,
          summary="A lead from a source, signed as Standard Webhooks with the source's "
          "secret; idempotent on the source's `id`"),
    Route("POST", "/unsubscribe/{token}", "notify", "unsubscribe", "",
          response=s.Unsubscribed, public=True, tags=DELIVERIES,
          summary="One-click unsubscribe from marketing (RFC 8058)"),
    Route("POST", "/provider-receipts/{provider}", "notify", "receive_provider_receipts", "",
          response=s.ReceiptsAccepted, public=True, tags=DELIVERIES,
          summary="Delivery receipts pushed by providers (aliyun-sms, wechat)"),
]
