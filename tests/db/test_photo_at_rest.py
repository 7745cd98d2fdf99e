"""Photos at rest: stored without metadata, encrypted under keyed names, private files, key rotation."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import stat
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageCms
from sqlalchemy import select
from support.cases import photo_bytes, submit

from bot.cli import main as dermbot
from dermvqa.casework import intake
from dermvqa.config import NEW_DATA_KEY_ENV, IntakeConfig
from dermvqa.errors import ImageError
from dermvqa.storage import key_rotation
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.image_store import ImageStore, PhotoMissing
from dermvqa.storage.key_rotation import rotate_keys
from dermvqa.storage.keys import new_key_text, parse_key
from dermvqa.storage.models import CaseImage, OutboxMessage
from dermvqa.storage.photo_cipher import PhotoDecryptError
from dermvqa.storage.photo_metadata import clean_photo

CAMERA = "AcmeCam-Forensic-9000"
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="PatientName-Editor"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


def exif_jpeg(size=(64, 48)) -> bytes:
    """A JPEG with EXIF (camera make, orientation 6 = turn 90 degrees clockwise, GPS) and an XMP block."""
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (0, 0, size[0] // 4, size[1]))  # a blue band on the left edge
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (54.0, 21.0, 7.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (18.0, 38.0, 43.0),
    }
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, xmp=XMP, quality=95)
    return buffer.getvalue()


def assert_no_metadata(data: bytes) -> None:
    assert b"Exif" not in data
    assert b"http://ns.adobe.com/xap" not in data and b"xmpmeta" not in data
    assert CAMERA.encode() not in data and b"PatientName" not in data
    assert b"ICC_PROFILE" not in data and b"iCCP" not in data
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        assert ExifTags.Base.Make not in exif and ExifTags.Base.Orientation not in exif
        assert not exif.get_ifd(ExifTags.IFD.GPSInfo)
        assert "icc_profile" not in image.info and "xmp" not in image.info


def private_modes(root: Path) -> set[tuple[str, int]]:
    return {("dir" if p.is_dir() else "file", stat.S_IMODE(p.stat().st_mode)) for p in [root, *root.rglob("*")]}


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


# -- 1. metadata stripped at intake --------------------------------------------------------------


def test_the_fixture_really_carries_the_metadata():
    data = exif_jpeg()
    assert b"Exif" in data and b"http://ns.adobe.com/xap" in data and CAMERA.encode() in data
    with Image.open(io.BytesIO(data)) as image:
        assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"


def test_a_stored_jpeg_has_no_exif_gps_xmp_or_make_and_is_turned_upright(store):
    stored = store.put(exif_jpeg(size=(64, 48)), max_pixels=10**8)
    data = store.read(stored.sha256)
    assert_no_metadata(data)
    assert data.startswith(b"\xff\xd8\xff") and stored.mime_type == "image/jpeg"
    assert (stored.width, stored.height) == (48, 64)  # orientation 6: width and height swapped
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (48, 64)
        top = image.convert("RGB").getpixel((24, 2))
        assert top[2] > 150 and top[0] < 100  # the blue left band is now the top edge (turned clockwise)
    assert stored.size_bytes == len(data)


def test_png_stays_png_and_webp_stays_webp_without_their_metadata():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("XML:com.adobe.xmp", XMP.decode())
    info.add_text("Comment", f"shot with {CAMERA}")
    png = io.BytesIO()
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA
    Image.new("RGBA", (30, 20), (10, 200, 10, 128)).save(png, format="PNG", pnginfo=info, exif=exif)
    assert CAMERA.encode() in png.getvalue()
    clean = clean_photo(png.getvalue(), max_pixels=10**8)
    assert clean.mime_type == "image/png" and clean.data.startswith(b"\x89PNG")
    assert_no_metadata(clean.data)
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.mode == "RGBA" and image.getpixel((3, 3)) == (10, 200, 10, 128)  # lossless, alpha kept

    webp = io.BytesIO()
    Image.new("RGB", (30, 20), (10, 20, 200)).save(webp, format="WEBP", exif=exif, xmp=XMP)
    assert CAMERA.encode() in webp.getvalue()
    clean = clean_photo(webp.getvalue(), max_pixels=10**8)
    assert clean.mime_type == "image/webp" and clean.data[8:12] == b"WEBP"
    assert_no_metadata(clean.data)


def test_an_icc_profile_is_applied_then_dropped():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (180, 90, 70)).save(buffer, format="JPEG", icc_profile=profile, quality=95)
    assert b"ICC_PROFILE" in buffer.getvalue()
    clean = clean_photo(buffer.getvalue(), max_pixels=10**8)
    assert_no_metadata(clean.data)
    with Image.open(io.BytesIO(clean.data)) as image:
        r, g, b = image.getpixel((20, 15))
    assert abs(r - 180) < 8 and abs(g - 90) < 8 and abs(b - 70) < 8  # sRGB to sRGB: colours unchanged


def test_the_same_photo_sent_twice_is_stored_once(store):
    first = store.put(exif_jpeg(), max_pixels=10**8)
    second = store.put(exif_jpeg(), max_pixels=10**8)
    assert first == second and len(list(store.names())) == 1


def test_a_refused_photo_writes_nothing(store):
    with pytest.raises(ImageError):
        store.put(exif_jpeg()[:200], max_pixels=10**8)
    assert not store.root.exists() or not [p for p in store.root.rglob("*") if p.is_file()]


# -- 2. encrypted at rest, keyed names, every reader decrypts ----------------------------------


def test_files_are_encrypted_and_named_by_the_keyed_hash(store, data_key):
    stored = store.put(exif_jpeg(), max_pixels=10**8)
    clean = store.read(stored.sha256)
    (path,) = [p for p in store.root.rglob("*") if p.is_file()]
    blob = path.read_bytes()
    assert path.name == stored.sha256 != hashlib.sha256(clean).hexdigest()  # not the plain sha256
    assert stored.sha256 == ImageStore(store.root / "other", data_key).name_for(clean)  # the key decides it
    assert b"\xff\xd8\xff" not in blob[:64] and b"JFIF" not in blob and b"Exif" not in blob
    assert clean not in blob
    other_key = ImageStore(store.root, parse_key(new_key_text(), "other"))
    assert other_key.name_for(clean) != stored.sha256
    with pytest.raises(PhotoDecryptError):
        other_key.read(stored.sha256)


def test_a_tampered_or_moved_file_is_a_clear_error_without_its_path(store):
    a = store.put(photo_bytes((1, 2, 3)), max_pixels=10**8).sha256
    b = store.put(photo_bytes((200, 2, 3)), max_pixels=10**8).sha256
    path = store.path_for(a)
    blob = bytearray(path.read_bytes())
    blob[40] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(PhotoDecryptError, match="changed on disk") as err:
        store.read(a)
    assert str(store.root) not in str(err.value) and a not in str(err.value)
    store.path_for(b).replace(path)  # another photo's file copied over this name
    with pytest.raises(PhotoDecryptError):
        store.read(a)
    with pytest.raises(PhotoMissing) as missing:
        store.read(b)
    assert str(store.root) not in str(missing.value)


def test_the_worker_loads_decrypted_photos_and_delete_removes_by_name(db, store):
    from dermvqa.drafting.images import load_image

    case_id = submit(db, store, 1, photos=[exif_jpeg(size=(64, 48))])
    with db.read() as session:
        (name,) = session.scalars(select(CaseImage.sha256).where(CaseImage.case_id == case_id))
    image = load_image(store.photo(name), max_pixels=10**8, max_side=1024)
    assert image.size == (48, 64)
    with db.write() as session:  # what /delete does: the rows go, then the files nobody refers to
        assert store.delete_unreferenced(session, {name}) == 0  # still referred to: kept
        session.execute(CaseImage.__table__.delete().where(CaseImage.case_id == case_id))
        assert store.delete_unreferenced(session, {name}) == 1
    assert list(store.names()) == []


# -- 3. files 600, folders 700, whatever the umask ---------------------------------------------


def test_store_and_database_files_are_private_whatever_the_umask(tmp_path, data_key, umask):
    store = ImageStore(tmp_path / "images", data_key)
    store.put(exif_jpeg(), max_pixels=10**8)
    store.put(photo_bytes(), max_pixels=10**8)
    assert private_modes(store.root) == {("dir", 0o700), ("file", 0o600)}

    db = open_database(f"sqlite:///{tmp_path / 'var' / 'dermbot.sqlite3'}", key=data_key)
    try:
        upgrade(db)
        with db.write() as session:  # a write transaction: the WAL has content
            session.execute(select(CaseImage.id)).all()
        files = sorted((tmp_path / "var").iterdir())
        assert {p.name for p in files} >= {"dermbot.sqlite3", "dermbot.sqlite3-wal", "dermbot.sqlite3-shm"}
        assert private_modes(tmp_path / "var") == {("dir", 0o700), ("file", 0o600)}
    finally:
        db.dispose()


def test_an_existing_world_readable_database_file_is_made_private(tmp_path, data_key, umask):
    path = tmp_path / "old.sqlite3"
    open_database(f"sqlite:///{path}", key=data_key).dispose()
    os.chmod(path, 0o644)
    open_database(f"sqlite:///{path}", key=data_key).dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_training_output_folder_is_private(tmp_path, umask):
    from training.pipeline import run_lock

    with run_lock(tmp_path / "models" / "runs") as locked:
        assert locked
    assert stat.S_IMODE((tmp_path / "models").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "models" / "runs").stat().st_mode) == 0o700


# -- 4. key rotation renames and re-encrypts every photo, resumably ----------------------------


def three_cases(db, store) -> dict[int, bytes]:
    """Case id -> the photo's stored (clean) bytes; one pending outbox message refers to a photo by name."""
    cases = {}
    for user in (1, 2, 3):
        case_id = submit(db, store, user, photos=[photo_bytes((60 * user, 20, 20))])
        with db.read() as session:
            (name,) = session.scalars(select(CaseImage.sha256).where(CaseImage.case_id == case_id))
        cases[case_id] = store.read(name)
    with db.write() as session:
        payload = {"parts": [{"op": "photo", "photo": {"sha256": name}}]}
        session.add(OutboxMessage(kind="review_request", chat_id=5, payload=payload))
    return cases


def names_by_case(db) -> dict[int, str]:
    with db.read() as session:
        return dict(session.execute(select(CaseImage.case_id, CaseImage.sha256)).all())


def assert_rotated(db, storage: Path, new, old, photos: dict[int, bytes]) -> None:
    new_store, old_store = ImageStore(storage, new), ImageStore(storage, old)
    names = names_by_case(db)
    assert sorted(new_store.names()) == sorted(names.values())  # no old file left, no photo lost
    for case_id, data in photos.items():
        assert names[case_id] == new_store.name_for(data)
        assert new_store.read(names[case_id]) == data
        with pytest.raises(PhotoDecryptError):
            old_store.read(names[case_id])
    with db.read() as session:
        payload = session.scalars(select(OutboxMessage.payload)).one()
    assert json.dumps(payload).count('"sha256"') == 1 and payload["parts"][0]["photo"]["sha256"] in names.values()
    assert not list(storage.rglob("*.tmp"))


def test_rotation_renames_re_encrypts_and_updates_the_rows(tmp_path, data_key):
    url = f"sqlite:///{tmp_path / 'dermbot.sqlite3'}"
    db = open_database(url, key=data_key)
    upgrade(db)
    store = ImageStore(tmp_path / "images", data_key)
    photos = three_cases(db, store)
    old_names = set(names_by_case(db).values())
    db.dispose()
    new = parse_key(new_key_text(), "new")
    result = rotate_keys(url, tmp_path / "images", data_key, new)
    assert (result.photos_rewritten, result.photos_already) == (3, 0)
    db = open_database(url, key=new)
    try:
        assert not old_names & set(names_by_case(db).values())
        assert_rotated(db, tmp_path / "images", new, data_key, photos)
    finally:
        db.dispose()


@pytest.mark.parametrize("crash_at", ["after_new_file", "after_rows"])
def test_a_rotation_that_crashed_among_the_photos_resumes_and_loses_nothing(tmp_path, data_key, monkeypatch, crash_at):
    url = f"sqlite:///{tmp_path / 'dermbot.sqlite3'}"
    db = open_database(url, key=data_key)
    upgrade(db)
    store = ImageStore(tmp_path / "images", data_key)
    photos = three_cases(db, store)
    db.dispose()
    new = parse_key(new_key_text(), "new")
    calls = {"n": 0}

    def power_cut(*_args):
        calls["n"] += 1
        if calls["n"] == 2:  # the second photo: the first is fully done
            raise KeyboardInterrupt

    if crash_at == "after_new_file":  # the new file is written, the rows not yet updated
        real = key_rotation._rename_in_outbox

        def crash_in_transaction(*args):
            power_cut()
            real(*args)

        monkeypatch.setattr(key_rotation, "_rename_in_outbox", crash_in_transaction)
    else:  # the rows point at the new file, the old file not yet deleted
        real_delete = ImageStore.delete

        def crash_before_delete(self, name):
            power_cut()
            return real_delete(self, name)

        monkeypatch.setattr(ImageStore, "delete", crash_before_delete)
    with pytest.raises(KeyboardInterrupt):
        rotate_keys(url, tmp_path / "images", data_key, new)
    monkeypatch.undo()

    # Every photo is still readable with one key or the other, and the rows point at a file.
    db = open_database(url, key=new)
    try:
        either = [ImageStore(tmp_path / "images", k) for k in (data_key, new)]
        for name in names_by_case(db).values():
            readable = []
            for s in either:
                with contextlib.suppress(PhotoDecryptError):
                    readable.append(s.read(name))
            assert len(readable) == 1 and readable[0] in photos.values()
    finally:
        db.dispose()

    result = rotate_keys(url, tmp_path / "images", data_key, new)  # the same command again
    assert result.resumed and result.photos_rewritten + result.photos_already == 3
    db = open_database(url, key=new)
    try:
        assert_rotated(db, tmp_path / "images", new, data_key, photos)
    finally:
        db.dispose()


def test_the_keys_rotate_command_rotates_the_photo_store(tmp_path, data_key, monkeypatch, capsys):
    config = tmp_path / "config.toml"
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    config.write_text(f'[database]\nurl = "{url}"\n[storage]\ndir = "{tmp_path / "images"}"\n', encoding="utf-8")
    db = open_database(url, key=data_key)
    upgrade(db)
    store = ImageStore(tmp_path / "images", data_key)
    photos = three_cases(db, store)
    db.dispose()
    new_text = new_key_text()
    monkeypatch.setenv(NEW_DATA_KEY_ENV, new_text)
    assert dermbot(["--config", str(config), "keys", "rotate"]) == 0
    assert "photos: 3 re-encrypted" in capsys.readouterr().out
    new = parse_key(new_text, "new")
    db = open_database(url, key=new)
    try:
        assert_rotated(db, tmp_path / "images", new, data_key, photos)
    finally:
        db.dispose()


def test_intake_store_photo_strips_and_encrypts(store):
    stored = intake.store_photo(store, exif_jpeg(), IntakeConfig(), max_pixels=10**8)
    assert_no_metadata(store.read(stored.sha256))


def test_a_review_post_without_a_telegram_file_id_uploads_the_decrypted_photo(store):
    import asyncio
    from types import SimpleNamespace

    from bot.delivery import OutboxSender

    stored = store.put(exif_jpeg(), max_pixels=10**8)
    sender = SimpleNamespace(store=store)
    uploaded = asyncio.run(OutboxSender._media(sender, {"file_id": None, "sha256": stored.sha256}))
    assert uploaded == store.read(stored.sha256) and uploaded.startswith(b"\xff\xd8\xff")
    assert_no_metadata(uploaded)
    assert asyncio.run(OutboxSender._media(sender, {"file_id": "AgAD1", "sha256": stored.sha256})) == "AgAD1"
