"""The kinds of outbox messages, and who receives them.

The core writes *what* is owed (a kind and a few values); the bot renders the words at delivery
time and freezes them in the row, so a retry sends exactly the same text. A row without a chat is
for the clinicians: the sender copies it to each review recipient first.
"""

from __future__ import annotations

# Written by the core worker (dermvqa.storage), named here with the rest.
from dermvqa.storage.outbox import ANSWER as ANSWER
from dermvqa.storage.outbox import CASE_FAILED as CASE_FAILED
from dermvqa.storage.outbox import REVIEW_REQUEST as REVIEW_REQUEST

# To the patient
CASE_RECEIVED = "case_received"  # acknowledgement with the case number
URGENT_ADVICE = "urgent_advice"  # seek urgent in-person care now
REJECTED = "rejected"  # kind template recommending an in-person consultation
WITHDRAWN = "withdrawn"  # the patient's cancellation confirmed
DELETED = "deleted"  # the patient's data erased

# To the clinicians (chat_id None: fanned out to the review chat or each clinician)
URGENT_ALERT = "urgent_alert"
REVIEW_UPDATE = "review_update"  # edit a review post: outcome, buttons removed

PATIENT_KINDS = frozenset({CASE_RECEIVED, URGENT_ADVICE, ANSWER, REJECTED, WITHDRAWN, DELETED})
