"""Every sentence the bot says, in one place (plain text: no markup to escape)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

from dermvqa.config import BotConfig, IntakeConfig, RetentionConfig


def _days(days: int) -> str:
    if days >= 365 and days % 365 == 0:
        years = days // 365
        return "1 year" if years == 1 else f"{years} years"
    return "1 day" if days == 1 else f"{days} days"


def _date(moment: dt.datetime | None) -> str:
    return f"{moment.day} {moment:%B %Y}" if moment is not None else "unknown date"


@dataclass(frozen=True)
class Texts:
    service_name: str
    disclaimer: str
    max_photos: int
    max_description_chars: int
    retention: RetentionConfig = field(default_factory=RetentionConfig)  # the periods the patient is told

    @classmethod
    def from_config(cls, bot: BotConfig, intake: IntakeConfig, retention: RetentionConfig | None = None) -> Texts:
        return cls(
            bot.service_name,
            bot.disclaimer,
            intake.max_photos,
            intake.max_description_chars,
            retention or RetentionConfig(),
        )

    # -- patients --------------------------------------------------------------------------------

    # The consent texts (welcome, training_question, privacy) say what happens to a patient's data.
    # Change them together with dermvqa.casework.intake.CONSENT_VERSION.

    def welcome(self) -> str:
        return (
            f"Hello, this is {self.service_name}, a skin-care service of our clinic.\n\n"
            "How it works: you send photos of your skin problem and describe it. A computer model "
            "drafts an answer, and a clinician reads, corrects or rejects every answer before it "
            "reaches you. Nothing is sent to you without a clinician's approval.\n\n"
            "What we keep: your photos, your description and our conversation, stored encrypted on the "
            "clinic's own server. Only the clinicians of this service see them, to answer you. "
            f"{self.retention_summary()} You can delete everything at any time with /delete.\n\n"
            "Improving the model: we will not use your photos and words to train the model unless you "
            "say yes to a separate question after this one. You can use the service either way.\n\n"
            "This service does not replace a doctor. In an emergency, call your local emergency number.\n\n"
            "Do you agree that we store your photos and description this way, to answer you?"
        )

    def retention_summary(self) -> str:
        """How long cases and the conversation are kept, from [retention] (0 days = until /delete)."""
        r = self.retention
        rules = [
            (r.answered_days, "after it was answered", "answered cases"),
            (r.rejected_days, "after a clinician closed it without an answer", "cases closed without an answer"),
            (r.withdrawn_days, "after you withdrew it", "withdrawn cases"),
        ]
        deleted = [f"{_days(days)} {when}" for days, when, _ in rules if days]
        kept = [what for days, _, what in rules if not days]
        if not deleted:
            text = "Your cases are kept until you delete them."
        else:
            last = deleted.pop()
            when = f"{', '.join(deleted)} or {last}" if deleted else last
            text = f"Each case, with its photos and words, is deleted {when}."
            if kept:
                text += f" {' and '.join(kept).capitalize()} are kept until you delete them."
        if r.message_log_days:
            return text + f" The record of our conversation is deleted after {_days(r.message_log_days)}."
        return text + " The record of our conversation is kept until you delete it."

    consent_yes_button = "I agree"
    consent_no_button = "No, thanks"

    def consent_given(self) -> str:
        return (
            "Thank you. Send up to "
            f"{self.max_photos} photos of the affected skin (good light, in focus) and describe the "
            "problem in your own words: where it is, since when, whether it itches or hurts, anything "
            "you have tried. When you are done, press Submit or send /done."
        )

    def training_question(self) -> str:
        return (
            "One more question, separate from the first: may we also use your photos and description, "
            "with the clinician's approved answer, to improve the computer model? They would be used to "
            "train the clinic's own model; the photos and words themselves are still deleted on the "
            "schedule above, or when you send /delete. Your answer does not change how your cases are "
            "handled: you can say no and still use the service. You can change it at any time with /privacy."
        )

    training_yes_button = "Yes, use them"
    training_no_button = "No"

    def training_answer(self, agreed: bool) -> str:
        if agreed:
            return (
                "Saved: your approved cases may be used to improve the model. "
                "You can change this at any time with /privacy."
            )
        return (
            "Saved: your cases will not be used to improve the model. "
            "You can still send cases as usual, and change this at any time with /privacy."
        )

    def privacy(
        self,
        *,
        consented: bool,
        version: str | None,
        consent_at: dt.datetime | None,
        training: bool | None,
        training_at: dt.datetime | None,
    ) -> str:
        """``/privacy``: what the patient agreed to and when, and how long things are kept."""
        if not consented:
            return (
                "You have not agreed to this service, so we keep nothing of yours except, if you declined, "
                "that answer. Send /start to read how it works and to choose."
            )
        if training is None:
            use = "Use of your cases to improve the model: not answered yet (so they are not used)."
        elif training:
            use = f"Use of your cases to improve the model: yes, since {_date(training_at)}."
        else:
            use = f"Use of your cases to improve the model: no, since {_date(training_at)}."
        audit = (
            f" A record of which clinician decided what on each case, without your words, photos or "
            f"identity, is kept for {_days(self.retention.audit_days)}."
            if self.retention.audit_days
            else ""
        )
        return (
            "Your privacy settings\n\n"
            f"Consent to the service: yes, given on {_date(consent_at)} "
            f"(consent text version {version or 'unknown'}).\n"
            f"{use}\n\n"
            "Your photos, descriptions and our conversation are stored encrypted on the clinic's own server and "
            f"seen only by the clinicians of this service. {self.retention_summary()}{audit}\n\n"
            "/delete deletes everything now. With the buttons below you can change whether your cases may be "
            "used to improve the model."
        )

    privacy_yes_button = "Allow use for the model"
    privacy_no_button = "Do not allow"

    def privacy_changed(self, agreed: bool) -> str:
        if agreed:
            return "Changed: your approved cases may now be used to improve the model."
        return (
            "Changed: your cases will not be used in any training of the model from now on. "
            "To delete them altogether, send /delete."
        )

    def no_consent_yet(self) -> str:
        return "Please agree to the service first: send /start."

    def consent_refused(self) -> str:
        return (
            "Understood. We have not kept anything except your refusal. If you change your mind, "
            "send /start. If your skin worries you, please see a doctor in person."
        )

    def consent_needed(self) -> str:
        return "Before you send photos or a description, please read the note above and choose an answer."

    def photo_received(self, count: int) -> str:
        left = self.max_photos - count
        more = f" You can add {left} more." if left > 0 else " That is the maximum."
        return f"Photo {count} of {self.max_photos} received.{more} Describe the problem, then press Submit."

    def album_received(self, added: int, count: int) -> str:
        return f"{added} photos received ({count} of {self.max_photos} in this case). Press Submit when ready."

    def description_received(self, chars: int, photos: int) -> str:
        need = " Please also send at least one photo." if photos == 0 else ""
        return f"Description saved ({chars} of {self.max_description_chars} characters).{need} Press Submit when ready."

    submit_button = "Submit"

    # -- the structured intake (bot/questions.py): short questions after the description ----------

    prefill_correct_button = "✓ Correct"
    prefill_change_button = "Change"
    skip_button = "Skip"
    done_button = "Done"
    change_answer_button = "Change an answer"
    checked_mark = "✓ "

    def prefill_found(self, lines: list[str]) -> str:
        found = "\n".join(lines)
        return f"From your description:\n{found}\n\nIs this correct? (You can press Submit at any time.)"

    def question(self, number: int, total: int, question: str, multi: bool, suggested: str = "") -> str:
        text = f"Question {number} of {total}: {question}"
        if multi:
            text += "\nChoose all that apply, then press Done."
        if suggested:
            text += f"\nFrom your description: {suggested}."
        return text + "\nSkip it if you are not sure."

    def answers_summary(self, lines: list[str]) -> str:
        return "Your answers:\n" + "\n".join(lines) + "\n\nPress Submit when ready, or change an answer."

    skipped_answer = "skipped"
    unanswered = "not answered"

    def pick_answer(self) -> str:
        return "Which answer do you want to change?"

    def question_old(self) -> str:
        return "That question was already answered or replaced by a newer one, so nothing was changed."

    def question_closed_case(self) -> str:
        return (
            "That question belongs to a case that was already submitted (or is closed), so nothing was changed. "
            "Send photos and a description to start a new case."
        )

    def too_many_choices(self, limit: int) -> str:
        """A button's pop-up note (at most 200 characters)."""
        return f"At most {limit} choices here: remove one first."

    def too_fast(self) -> str:
        return (
            "You are sending messages very fast, so I am skipping some of them; I'll read again in a minute. "
            "Please wait a moment, then send again anything I have not answered."
        )

    def download_failed(self) -> str:
        return "That file could not be downloaded from Telegram. Please send it again; nothing else was lost."

    def refused(self, code: str, limit: int | None = None, detail: str = "") -> str:
        messages = {
            "too_many_photos": f"A case can have at most {limit} photos; this one was not added. "
            "Your other photos and your description are kept. Press Submit, or /cancel to start over.",
            "file_too_large": f"That file is larger than the {(limit or 0) / 1e6:.0f} MB limit, so it was not "
            "added. Please send a smaller photo (Telegram's 'compress' option helps). Nothing else was lost.",
            "not_an_image": "That file could not be read as a photo"
            + (f" ({detail})" if detail else "")
            + ". Please send a JPEG, PNG or WebP photo. What you sent before is kept.",
            "not_an_image_type": "Only photos can be added to a case (JPEG, PNG or WebP). "
            "That file was not added; what you sent before is kept.",
            "unsupported_format": "Please send photos as JPEG, PNG or WebP: that file is in another format, "
            "so it was not added. What you sent before is kept.",
            "too_many_pixels": f"That image is too large (more than {(limit or 0) / 1e6:.0f} megapixels), so it "
            "was not added. Please send a smaller photo (Telegram's 'compress' option helps). Nothing else was lost.",
            "too_long": f"The description can be at most {limit} characters; that message would make it longer, "
            "so it was not added. Send a shorter message; what you wrote before is kept.",
            "too_short": f"Please describe the problem in a few more words (at least {limit} characters).",
            "empty": "That message was empty. Please describe the problem in words.",
            "no_photo": "Please send at least one photo of the skin problem before submitting.",
            "no_description": "Please describe the problem in a message before submitting.",
            "nothing": "There is nothing to submit yet. Send photos and a description first.",
            "already_submitted": f"Case #{limit} is already submitted: the answer will come here. "
            "To start a new case, send new photos and a description.",
            "changed": "That case changed meanwhile; please check /status.",
        }
        return messages.get(code, "That did not work; please try again.")

    def case_received(self, case_id: int, urgent: bool) -> str:
        first = " Because of what you described, it is at the top of the clinicians' list." if urgent else ""
        return (
            f"Thank you. Your case number is #{case_id}.{first}\n\n"
            "What happens next: a clinician will review a drafted answer and you will get a message here, "
            "usually within one working day. You can check with /status, or withdraw with /cancel "
            "until a clinician has answered."
        )

    def urgent_advice(self, flags: list[str]) -> str:
        reasons = "; ".join(flags)
        return (
            f"Important: you mentioned {reasons}. This can be serious. Please seek urgent in-person care now: "
            "go to an emergency department or call your local emergency number. Do not wait for our answer."
        )

    def answer(self, case_id: int, text: str, urgent_flags: Sequence[str] = ()) -> str:
        """The answer; for a case with red flags it starts with the urgent advice, whatever the text says."""
        urgent = f"{self.urgent_advice(list(urgent_flags))}\n\n" if urgent_flags else ""
        return f"Answer to your case #{case_id}:\n\n{urgent}{text.strip()}\n\n{self.disclaimer.strip()}"

    def rejected(self, case_id: int) -> str:
        return (
            f"About your case #{case_id}: our clinician could not give a reliable answer from photos and a "
            "description alone. We recommend that you see a doctor or dermatologist in person, who can examine "
            "your skin properly. If it gets worse quickly, or you feel unwell, seek care sooner. Thank you for "
            "your trust, and we hope you feel better soon."
        )

    def room_locked(self, case_id: int) -> str:
        return (
            f"This review group is locked because someone who is not a clinician joined it, so case #{case_id} "
            f"is not shown here. Send /case {case_id} to me in a private chat; the operator unlocks the group "
            "with `dermbot room ack` once only clinicians are in it."
        )

    def withdrawn(self, case_id: int) -> str:
        return f"Your case #{case_id} has been withdrawn; no clinician will answer it. Send new photos any time."

    def withdrawn_collecting(self) -> str:
        return "The case you were putting together has been discarded. Send new photos any time."

    def deleted(self) -> str:
        return (
            "All your data (cases, photos, descriptions, answers and our conversation) has been deleted, "
            "and pending work stopped. Send /start if you want to use the service again."
        )

    def delete_confirm(self) -> str:
        return (
            "This permanently deletes all your cases, photos, descriptions, answers and our conversation, "
            "and stops any pending work. Are you sure?"
        )

    delete_yes_button = "Yes, delete everything"
    delete_no_button = "No, keep it"

    def delete_kept(self) -> str:
        return "Nothing was deleted."

    def help(self) -> str:
        return (
            "Send photos of the skin problem and a description, then press Submit (or /done).\n"
            "/status - your cases and where they are\n"
            "/cancel - withdraw your latest case before a clinician answers\n"
            "/privacy - what you agreed to, how long we keep your data, and model training\n"
            "/delete - delete all your data\n"
            "/start - how this service works and your consent\n"
            "/help - this message"
        )

    def unknown_command(self, command: str) -> str:
        return f"I don't know the command {command}. Send /help to see what I can do."

    def hint(self) -> str:
        return "I can only take photos and a text description of a skin problem. Send /help for the commands."

    def no_cases(self) -> str:
        return "You have no cases yet. Send a photo and a description to start one."

    state_names: ClassVar[Mapping[str, str]] = MappingProxyType(
        {
            "collecting": "being put together (not submitted yet)",
            "queued": "waiting for a draft",
            "drafting": "a draft is being written",
            "awaiting_review": "waiting for a clinician",
            "approved": "approved, the answer is on its way",
            "answered": "answered",
            "rejected": "closed: please see a doctor in person",
            "withdrawn": "withdrawn",
            "failed": "waiting for a clinician",  # the patient need not know the model failed
        }
    )

    # -- clinicians ------------------------------------------------------------------------------

    not_authorised = "Not authorised: this action is for the clinic's clinicians."
    approve_button, edit_button, regenerate_button, reject_button = "✅ Approve", "✏️ Edit", "🔄 Regenerate", "❌ Reject"
    send_edit_button, change_edit_button, cancel_edit_button = "✅ Send to patient", "✏️ Change", "Cancel"
    confirm_reject_button = "❌ Reject and notify patient"

    # Prompts asking a clinician for a text start in lower case: in a group they follow the clinician's name.

    def edit_prompt(self, case_id: int) -> str:
        return f"send the corrected answer for case #{case_id} as one message, in reply to this one (/cancel to stop)."

    def reject_prompt(self, case_id: int) -> str:
        return (
            f"send the reason for rejecting case #{case_id} in reply to this message (kept for the record; the patient "
            "gets a kind standard message recommending an in-person visit). /cancel to stop."
        )

    def again_prompt(self, case_id: int, empty: bool = False) -> str:
        first = "that message was empty; " if empty else ""
        return f"{first}send the new text for case #{case_id} in reply to this message (/cancel to stop)."

    def text_placeholder(self, action: str, case_id: int) -> str:
        """The ForceReply input placeholder (at most 64 characters)."""
        return f"Reason for rejecting case #{case_id}" if action == "reject" else f"Answer for case #{case_id}"
