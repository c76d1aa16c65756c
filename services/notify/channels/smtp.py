"""Email over SMTP (NTF-01): UTF-8 subject and body, a text part and an HTML part, and
for marketing and care mail a ``List-Unsubscribe`` header with one-click unsubscribe
(RFC 8058: ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``).

Each sender keeps one connection open and reuses it. ``Message-ID`` is the delivery's
id, the same on every retry: SMTP has no idempotency key, so a message whose server
accepted it just before the process died is sent again, and mail clients that drop a
second copy with the same Message-ID show it once.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from services.notify.channels import OutgoingMessage, SendFailed, Sent
from services.notify.domain.delivery import network_failure, smtp_failure
from services.notify.settings import NotifySettings

MESSAGE_ID_DOMAIN = "crm.notify"


def build_message(settings: NotifySettings, message: OutgoingMessage) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = settings.mail_from
    _, addr = parseaddr(message.address)
    mail["To"] = Address(display_name=message.recipient_name or "", addr_spec=addr)
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = f"<{message.delivery_id}@{MESSAGE_ID_DOMAIN}>"
    if message.unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(message.text, charset="utf-8")
    if message.html:
        mail.add_alternative(message.html, subtype="html", charset="utf-8")
    return mail


class SmtpMailer:
    name = "smtp"

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        host = s.smtp_host or ""
        connection: smtplib.SMTP
        if s.smtp_tls == "tls":
            connection = smtplib.SMTP_SSL(host, s.smtp_port, timeout=s.smtp_timeout,
                                          context=ssl.create_default_context())
        else:
            connection = smtplib.SMTP(host, s.smtp_port, timeout=s.smtp_timeout)
            if s.smtp_tls == "starttls":
                connection.starttls(context=ssl.create_default_context())
        if s.smtp_username:
            connection.login(s.smtp_username, s.smtp_password or "")
        return connection

    def send(self, message: OutgoingMessage) -> Sent:
        mail = build_message(self.settings, message)
        try:
            if self._connection is None:
                self._connection = self._connect()
            refused = self._connection.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise SendFailed(smtp_failure(code, _text(reply)), self.name) from exc
        except smtplib.SMTPResponseException as exc:
            self._reset_after(exc.smtp_code)
            raise SendFailed(smtp_failure(exc.smtp_code, _text(exc.smtp_error)),
                             self.name) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise SendFailed(network_failure(f"{type(exc).__name__}: {exc}"),
                             self.name) from exc
        if refused:
            code, reply = next(iter(refused.values()))
            raise SendFailed(smtp_failure(code, _text(reply)), self.name)
        return Sent(self.name, mail["Message-ID"], "250 accepted")

    def _reset_after(self, code: int) -> None:
        if code in (421, -1):  # the server is closing the connection
            self.close()
        elif self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.rset()

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.quit()
            self._connection = None


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
