"""After a real conversation, nothing readable is left on disk: photos and the database are encrypted,
photos carry no metadata, and every file is private."""

from __future__ import annotations

import io
import stat

from harness import CLINICIAN
from PIL import ExifTags, Image
from sqlalchemy import select

from dermvqa.storage.models import Case, CaseImage

WORDS = ("quokka-shaped", "blister", "Szczebrzeszyn")
DESCRIPTION = "A quokka-shaped blister on my left shin since the trip to Szczebrzeszyn."
CAMERA = "AcmeCam-Forensic-9000"


def gps_jpeg(color=(190, 100, 80), size=(120, 90)) -> bytes:
    image = Image.new("RGB", size, color)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (50.0, 42.0, 16.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (22.0, 58.0, 44.0),
    }
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, quality=95)
    return buffer.getvalue()


async def test_photos_and_description_are_unreadable_on_disk(harness, tmp_path):
    photo = gps_jpeg()
    assert b"Exif" in photo and CAMERA.encode() in photo
    await harness.consent(4101)
    harness.server.send_document(4101, photo, file_name="IMG_2041.jpg", mime_type="image/jpeg")
    await harness.said(4101, "Photo 1 of")
    harness.server.send_photo(4101, gps_jpeg((20, 160, 90)))
    await harness.said(4101, "Photo 2 of")
    harness.server.send_text(4101, DESCRIPTION)
    saved = await harness.said(4101, "Description saved")
    harness.server.press_button(4101, saved, "submit")
    ack = await harness.said(4101, "Your case number is #")
    case_id = int(ack["plain_text"].split("#")[1].split(".")[0])
    await harness.review_post(CLINICIAN, case_id)  # the worker decrypted the photos and drafted
    await harness.drained()
    # The image sent as a file reaches the clinicians as a document, but as our cleaned copy: the
    # patient's original (its Telegram file id) still carries the camera and the GPS position.
    shown = [r for r in harness.server.messages_to(CLINICIAN) if r["document"]]
    assert len(shown) == 1
    shown_bytes = harness.server.file_bytes(shown[0]["document"]["file_id"])
    assert shown_bytes.startswith(b"\xff\xd8\xff") and b"Exif" not in shown_bytes and CAMERA.encode() not in shown_bytes

    with harness.db.read() as session:
        names = list(session.scalars(select(CaseImage.sha256).where(CaseImage.case_id == case_id)))
    assert len(names) == 2
    files = [p for p in harness.config.storage_dir.rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == sorted(names)
    for path in files:
        blob = path.read_bytes()
        assert not blob.startswith((b"\xff\xd8\xff", b"\x89PNG", b"RIFF"))
        assert b"JFIF\x00" not in blob and b"Exif\x00\x00" not in blob and CAMERA.encode() not in blob
        clean = harness.store.read(path.name)  # decrypted in memory: a photo without metadata
        assert clean.startswith(b"\xff\xd8\xff") and b"Exif" not in clean and CAMERA.encode() not in clean
        with Image.open(io.BytesIO(clean)) as image:
            assert image.size == (90, 120)  # turned upright as the orientation tag said
            assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)

    database = [p for p in tmp_path.iterdir() if p.name.startswith("bot.sqlite3")]
    assert {p.name for p in database} >= {"bot.sqlite3", "bot.sqlite3-wal"}
    on_disk = b"".join(p.read_bytes() for p in database)
    for word in WORDS:
        assert word.encode() not in on_disk
    for path in [*database, *files]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in [harness.config.storage_dir, *(p for p in harness.config.storage_dir.rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    with harness.db.read() as session:  # with the key, the description is all there
        assert session.get(Case, case_id).description == DESCRIPTION
