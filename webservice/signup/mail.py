"""Sending the verification e-mail over SMTP (host, port, STARTTLS, optional AUTH)."""

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


class SmtpMailer:
    """``send(to, subject, body)`` delivers one plain-text message or raises an exception."""

    def __init__(self, smtp, password=None, timeout=15):
        self.smtp = smtp  # settings.Smtp
        self._password = password
        self.timeout = timeout

    def __repr__(self):
        return f"SmtpMailer({self.smtp.host}:{self.smtp.port}, starttls={self.smtp.starttls})"

    def send(self, to, subject, body):
        message = EmailMessage()
        message["From"] = self.smtp.from_address
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.smtp.from_address.rpartition("@")[2])
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.timeout) as client:
            if self.smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if self.smtp.username:
                client.login(self.smtp.username, self._password or "")
            client.send_message(message)
