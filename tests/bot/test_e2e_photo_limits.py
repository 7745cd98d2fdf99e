"""Photo intake refuses what it should before it costs anything, and one flooding patient cannot
slow down the others (real bot, fake Bot API server over HTTP)."""

from __future__ import annotations

import asyncio

from harness import CLINICIAN, Harness, jpeg
from sqlalchemy import select
from support.images import EPS, bomb_png, encoded

from dermvqa.storage.models import MessageLog

FORMATS = "Please send photos as JPEG, PNG or WebP"


def stored_files(h: Harness) -> list:
    return [f for f in h.config.storage_dir.rglob("*") if f.is_file()]


async def test_foreign_formats_and_a_bomb_are_refused_and_leave_nothing(harness, decoded):
    h, server = harness, harness.server
    await h.consent(6001)
    server.send_document(6001, EPS, file_name="rash.eps", mime_type="application/postscript")
    await h.said(6001, FORMATS)
    server.send_document(6001, encoded("TIFF"), file_name="scan.tiff", mime_type="image/tiff")
    await h.said(6001, FORMATS)
    assert server.calls["getFile"] == 0  # judged from the Document: never downloaded
    # A TIFF that claims to be a JPEG is downloaded, but Pillow's TIFF parser never sees it.
    server.send_document(6001, encoded("TIFF"), file_name="photo.jpg", mime_type="image/jpeg")
    await h.said(6001, FORMATS)
    bomb = bomb_png()  # 13000 x 13000: 169 megapixels in about 20 KB
    server.send_document(6001, bomb, file_name="rash.png", mime_type="image/png")
    await h.said(6001, "That image is too large (more than 40 megapixels)")
    assert server.calls["getFile"] == 2
    assert (13000, 13000) not in decoded and all(w * h_ <= 10**6 for w, h_ in decoded)  # refused from the header
    assert h.photos_of(6001) == 0 and stored_files(h) == []
    server.send_document(6001, jpeg(size=(64, 48)), file_name="fine.jpg", mime_type="image/jpeg")
    await h.said(6001, "Photo 1 of 10")
    assert h.photos_of(6001) == 1 and len(stored_files(h)) == 1


async def test_the_eleventh_photo_is_refused_without_being_downloaded(harness):
    h, server = harness, harness.server
    await h.consent(6002)
    for i in range(10):
        server.send_photo(6002, jpeg((20 * i, 100, 50)))
        await h.said(6002, f"Photo {i + 1} of 10")
    assert server.calls["getFile"] == 10
    update = server.send_photo(6002, jpeg((250, 250, 0)))
    await h.said(6002, "A case can have at most 10 photos")
    assert server.calls["getFile"] == 10
    assert server.downloads(update["message"]["photo"][-1]["file_id"]) == 0
    assert h.photos_of(6002) == 10 and len(stored_files(h)) == 10


async def test_oversize_files_are_refused_before_or_while_downloading(tmp_path, server):
    h = Harness.create(tmp_path, server, max_file_bytes=300_000)
    await h.start_bot()
    try:
        await h.consent(6003)
        big = b"\xff\xd8\xff" + b"\x00" * 400_000
        declared = server.send_document(6003, big, file_name="a.jpg", mime_type="image/jpeg")
        await h.said(6003, "larger than the 0 MB limit")
        assert server.calls["getFile"] == 0
        assert server.downloads(declared["message"]["document"]["file_id"]) == 0
        undeclared = server.send_document(
            6003, b"\xff\xd8\xff" + b"\x01" * 400_000, file_name="b.jpg", mime_type="image/jpeg", declare_size=False
        )
        assert "file_size" not in undeclared["message"]["document"]
        await h.server.async_wait_until(
            lambda: sum("larger than" in (r.get("plain_text") or "") for r in server.messages_to(6003)) == 2,
            10,
            what="the second refusal",
        )
        assert server.calls["getFile"] == 1  # asked, since nothing declared the size; the cap did the rest
        assert h.photos_of(6003) == 0 and stored_files(h) == []
        server.send_photo(6003, jpeg())
        await h.said(6003, "Photo 1 of")
    finally:
        await h.close()


async def test_a_flooding_patient_is_told_once_and_others_are_still_answered(tmp_path, server):
    # One token a minute after a burst of 11: /start and the consent button use 2 (the training
    # question is left unanswered), so 9 photos pass.
    h = Harness.create(tmp_path, server, rate_per_minute=1, rate_burst=11)
    await h.start_bot()
    try:
        await h.consent(6010, training=None)
        await h.consent(6011)
        sent = [server.send_photo(6010, jpeg((i * 8, 90, 90))) for i in range(30)]
        server.send_text(6011, "/status")
        await h.said(6011, "You have no cases yet")
        await h.said(6010, "Photo 9 of 10")
        await h.server.async_wait_until(lambda: not server.pending_updates, 10, what="every update fetched")
        await asyncio.sleep(1.0)  # let the dropped updates run through the bot
        texts = [r.get("plain_text") or "" for r in server.messages_to(6010)]
        assert sum("sending messages very fast" in t for t in texts) == 1
        assert not any("Photo 10 of" in t for t in texts)
        assert h.photos_of(6010) == 9 and len(stored_files(h)) == 9
        assert server.calls["getFile"] == 9
        assert sum(server.downloads(u["message"]["photo"][-1]["file_id"]) for u in sent[9:]) == 0
        with h.db.read() as session:  # the dropped ones are not even in the conversation record
            kinds = session.scalars(
                select(MessageLog.kind).where(MessageLog.user_id == 6010, MessageLog.direction == "in")
            ).all()
        assert kinds.count("photo") == 9
        # Clinicians are never limited.
        for _ in range(15):
            server.send_text(CLINICIAN, "/queue")
        await h.server.async_wait_until(lambda: len(server.messages_to(CLINICIAN)) >= 15, 15, what="15 answers")
        assert not any("very fast" in (r.get("plain_text") or "") for r in server.messages_to(CLINICIAN))
    finally:
        await h.close()
