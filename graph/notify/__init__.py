"""Telling people: realtime pushes (pubsub), outbox records written with the change that causes
them and their delivery (app, email, SMS), preferences, one-time codes.
May import: infra.
"""

from graph.notify.channels import FileMailer, FileSms, Mailer, SmsSender, SmtpMailer, TwilioSms
from graph.notify.codes import Checked, Codes, Limits, refused_alike
from graph.notify.outbox import Outbox, run_outbox
from graph.notify.pubsub import Notifier
from graph.notify.records import DEAL_OUTBOX, OUTBOX_NODE, SAVERS_OUTBOX, record, savers

__all__ = [
    "DEAL_OUTBOX",
    "OUTBOX_NODE",
    "SAVERS_OUTBOX",
    "Checked",
    "Codes",
    "FileMailer",
    "FileSms",
    "Limits",
    "Mailer",
    "Notifier",
    "Outbox",
    "SmsSender",
    "SmtpMailer",
    "TwilioSms",
    "record",
    "refused_alike",
    "run_outbox",
    "savers",
]
