"""Benchmark: what encryption at rest costs, encrypted against plain in the same run.

    python bench/encryption.py [--cases 200] [--rounds 2] [--photos 20]

(a) Intake on a real SQLite file, as the bot does it (dermvqa.casework.intake: consent, attach a
stored photo, add the description, submit), ``--cases`` patients per round, on a fresh file per round:
SQLCipher-encrypted (the service's default) or plain (``encrypt=False``). Each round runs both modes,
in alternating order (plain first, then encrypted first, ...). Timed per case: the Submit
transaction alone (``intake.submit``), and the whole intake (all four transactions), in wall-clock
time and in this thread's CPU time (less disturbed by other processes on a busy machine).

(b) Photos: ``--photos`` JPEGs of about 1 MB each, written to disk (temporary file, fsync, rename,
as the photo store does) and read back; plain bytes, or AES-GCM encrypted before the write and
decrypted after the read (dermvqa.storage.photo_cipher). Also the cipher alone (MB/s).

(c) The photo store itself (dermvqa.storage.image_store), the same ``--photos`` JPEGs: ``put`` (decode,
strip metadata, re-encode, name, write) and ``read`` per photo, encrypted (keyed names, AES-GCM) or
plain (``encrypt=False``: sha256 names, plain files), alternating as in (a). Re-encoding costs the same
in both modes; ``clean_only`` times it alone.

Prints one JSON line: p50/p95 in ms per mode (rounds pooled), MB/s, and the ratios encrypted/plain
(latency: > 1 is slower; throughput: < 1 is slower). The goal: under 10% slower end to end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dermvqa.casework import intake
from dermvqa.config import IntakeConfig
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.keys import DataKey, new_key_text, parse_key
from dermvqa.storage.photo_cipher import PhotoCipher
from dermvqa.storage.photo_metadata import clean_photo

LIMITS = IntakeConfig()
WORDS = "An itchy red patch on my forearm for two weeks, worse at night, no fever."


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {"p50_ms": round(percentile(ms, 0.5), 3), "p95_ms": round(percentile(ms, 0.95), 3), "n": len(ms)}


def small_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 90, 70)).save(buf, format="JPEG")
    return buf.getvalue()


def one_mb_jpeg(seed: int) -> bytes:
    """Noise compresses badly: about 1 MB of JPEG at this size and quality."""
    pixels = np.random.default_rng(seed).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def intake_round(folder: Path, key: DataKey | None, cases: int) -> tuple[list[float], list[float], list[float]]:
    db = open_database(f"sqlite:///{folder / 'bench.sqlite3'}", key=key, encrypt=key is not None)
    upgrade(db)
    store = ImageStore(folder / "images", key, encrypt=key is not None)
    stored = intake.store_photo(store, small_jpeg(), LIMITS, max_pixels=10**8)
    submits, wholes, cpu = [], [], []
    try:
        for user in range(1, cases + 1):
            start, cpu_start = time.perf_counter(), time.thread_time()
            intake.consent(db, user, user, "en")
            intake.attach_photo(db, user, stored, LIMITS)
            intake.add_description(db, user, WORDS, LIMITS)
            before_submit = time.perf_counter()
            result = intake.submit(db, user, LIMITS, max_attempts=3)
            end = time.perf_counter()
            cpu.append(time.thread_time() - cpu_start)
            assert result.case_id, result
            submits.append(end - before_submit)
            wholes.append(end - start)
    finally:
        db.dispose()
    return submits, wholes, cpu


def write_durably(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def photo_round(folder: Path, photos: list[bytes], cipher: PhotoCipher | None) -> float:
    """Seconds to store and read back every photo (encrypting and decrypting with ``cipher``)."""
    start = time.perf_counter()
    for i, data in enumerate(photos):
        path = folder / f"p{i}"
        write_durably(path, cipher.encrypt(data, path.name) if cipher else data)
        back = path.read_bytes()
        back = cipher.decrypt(back, path.name) if cipher else back
        assert len(back) == len(data)
    return time.perf_counter() - start


def store_round(folder: Path, photos: list[bytes], key: DataKey | None) -> tuple[list[float], list[float]]:
    """Seconds per ``ImageStore.put`` and per ``ImageStore.read`` of each photo."""
    store = ImageStore(folder / "store", key, encrypt=key is not None)
    puts, reads = [], []
    for data in photos:
        start = time.perf_counter()
        stored = store.put(data, max_pixels=10**8)
        middle = time.perf_counter()
        back = store.read(stored.sha256)
        reads.append(time.perf_counter() - middle)
        puts.append(middle - start)
        assert len(back) == stored.size_bytes
    return puts, reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2, help="rounds per mode (alternating plain, encrypted)")
    parser.add_argument("--photos", type=int, default=20)
    args = parser.parse_args()
    key = parse_key(new_key_text(), "bench")  # throwaway data: a throwaway key
    cipher = PhotoCipher(key)
    modes = {"plain": None, "encrypted": key}
    submit: dict[str, list[float]] = {m: [] for m in modes}
    whole: dict[str, list[float]] = {m: [] for m in modes}
    whole_cpu: dict[str, list[float]] = {m: [] for m in modes}
    photo_seconds: dict[str, float] = {m: 0.0 for m in modes}
    store_put: dict[str, list[float]] = {m: [] for m in modes}
    store_read: dict[str, list[float]] = {m: [] for m in modes}
    photos = [one_mb_jpeg(i) for i in range(args.photos)]
    megabytes = sum(len(p) for p in photos) / 1e6
    with tempfile.TemporaryDirectory(prefix="dermbot-bench-") as tmp:
        for r in range(args.rounds):
            order = list(modes.items()) if r % 2 == 0 else list(reversed(modes.items()))  # cancels order effects
            for mode, mode_key in order:
                folder = Path(tmp) / f"{mode}{r}"
                folder.mkdir()
                s, w, c = intake_round(folder, mode_key, args.cases)
                submit[mode] += s
                whole[mode] += w
                whole_cpu[mode] += c
                photo_seconds[mode] += photo_round(folder, photos, cipher if mode_key else None)
                puts, reads = store_round(folder, photos, mode_key)
                store_put[mode] += puts
                store_read[mode] += reads
    start = time.perf_counter()
    for i, data in enumerate(photos):
        cipher.decrypt(cipher.encrypt(data, str(i)), str(i))
    cipher_only = megabytes / (time.perf_counter() - start)
    cleaning = []
    for data in photos:
        start = time.perf_counter()
        clean_photo(data, max_pixels=10**8)
        cleaning.append(time.perf_counter() - start)

    def ratio(a: float, b: float) -> float:
        return round(a / b, 3)

    result = {
        "bench": "encryption",
        "cases_per_round": args.cases,
        "rounds_per_mode": args.rounds,
        "submit": {m: summary(v) for m, v in submit.items()},
        "intake_whole": {m: summary(v) for m, v in whole.items()},
        "intake_whole_cpu": {m: summary(v) for m, v in whole_cpu.items()},
        "photo_store_read": {
            m: {"mb_per_s": round(megabytes * args.rounds / s, 1)} for m, s in photo_seconds.items()
        },
        "photo_mb": round(megabytes / len(photos), 2),
        "cipher_only_encrypt_decrypt_mb_per_s": round(cipher_only, 1),
        "image_store_put": {m: summary(v) for m, v in store_put.items()},
        "image_store_read": {m: summary(v) for m, v in store_read.items()},
        "clean_only": summary(cleaning),
        "ratios_encrypted_over_plain": {
            "submit_p50": ratio(summary(submit["encrypted"])["p50_ms"], summary(submit["plain"])["p50_ms"]),
            "submit_p95": ratio(summary(submit["encrypted"])["p95_ms"], summary(submit["plain"])["p95_ms"]),
            "intake_whole_p50": ratio(summary(whole["encrypted"])["p50_ms"], summary(whole["plain"])["p50_ms"]),
            "intake_whole_mean": ratio(statistics.fmean(whole["encrypted"]), statistics.fmean(whole["plain"])),
            "intake_whole_cpu_p50": ratio(
                summary(whole_cpu["encrypted"])["p50_ms"], summary(whole_cpu["plain"])["p50_ms"]
            ),
            "photo_throughput": ratio(
                photo_seconds["plain"], photo_seconds["encrypted"]
            ),  # encrypted MB/s over plain MB/s
            "image_store_put_p50": ratio(
                summary(store_put["encrypted"])["p50_ms"], summary(store_put["plain"])["p50_ms"]
            ),
            "image_store_read_p50": ratio(
                summary(store_read["encrypted"])["p50_ms"], summary(store_read["plain"])["p50_ms"]
            ),
            "image_store_put_plus_read_mean": ratio(
                statistics.fmean(store_put["encrypted"]) + statistics.fmean(store_read["encrypted"]),
                statistics.fmean(store_put["plain"]) + statistics.fmean(store_read["plain"]),
            ),
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
