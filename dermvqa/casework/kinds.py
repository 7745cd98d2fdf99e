"""The kinds of outbox messages, and who receives them.

The core writes *what* is owed (a kind and a few values); the bot renders the words at delivery
time and freezes them in the row, so a retry sends exactly the same text. A row without a chat is
for the clinicians: the sender copies it to each review recipient first.
"""

from __future__ import annotations

# Written by the bot's watchdog (dermvqa.casework.alerts): to the clinicians.
from dermvqa.casework.watchdog import CASE_STUCK as CASE_STUCK
from dermvqa.casework.watchdog import DELIVERY_FAILED as DELIVERY_FAILED

# Written by the core worker (dermvqa.storage), named here with the rest.
from dermvqa.storage.outbox import ANSWER as ANSWER
from dermvqa.storage.outbox import CASE_FAILED as CASE_FAILED
from dermvqa.storage.outbox import DELETED as DELETED  # to the patient: their data erased
from dermvqa.storage.outbox import REVIEW_REQUEST as REVIEW_REQUEST
from dermvqa.storage.outbox import WITHDRAW_POST as WITHDRAW_POST

# To the patient
CASE_RECEIVED = "case_received"  # acknowledgement with the case number
URGENT_ADVICE = "urgent_advice"  # seek urgent in-person care now
REJECTED = "rejected"  # kind template recommending an in-person consultation
WITHDRAWN = "withdrawn"  # the patient's cancellation confirmed

# To the clinicians (chat_id None: fanned out to the review chat or each clinician)
URGENT_ALERT = "urgent_alert"
REVIEW_UPDATE = "review_update"  # edit a review post: outcome, buttons removed
ROOM_LOCKED = "room_locked"  # a non-clinician is in the review group: posts show case numbers only
# A reply to a command or a button (bot.replies); one with a case is a clinician's preview quoting
# their edited answer or reason: withdrawn like a review post when the patient erases their data.
REPLY = "reply"

PATIENT_KINDS = frozenset({CASE_RECEIVED, URGENT_ADVICE, ANSWER, REJECTED, WITHDRAWN, DELETED})
