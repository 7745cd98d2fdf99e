"""Benchmark: drafting throughput of the real worker at batch sizes 1, 2, 4 and 8.

    python bench/drafting.py [--cases 16] [--new-tokens 64] [--batch-sizes 1,2,4,8] [--plain]

``--plain``: the database and the photo store unencrypted (to measure what encryption at rest costs;
the service always encrypts).

The model is fixed: the ``bench`` geometry of ``dermvqa make-tiny-model`` (a random LLaVA of about
100M parameters: CLIP 6 layers/384 at 224 px, Llama 12 layers/768, vocabulary 8192), float32 on
the CPU, greedy, exactly ``--new-tokens`` new tokens per draft (end-of-sequence suppressed so every
batch size does the same work). For each batch size the real ``Worker`` drafts ``--cases``
submitted cases from a fresh SQLite file; its own bookkeeping (claiming, loading inputs, storing
drafts, heartbeats) is timed separately from the model.

Prints one JSON line. Goals: batch 8 at least 3x the drafts/s of batch 1; overhead under 5%.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

from dermvqa.config import load_config
from dermvqa.drafting.factory import create_drafter
from dermvqa.drafting.tiny_model import make_tiny_model
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.intake import add_image, ensure_patient, open_case, submit_case
from dermvqa.storage.keys import load_data_key, use_ephemeral_key
from dermvqa.worker import Worker


def photo(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((640, 480), 40 + seed).convert("RGB").save(buf, format="JPEG")
    return buf.getvalue()


def run_batch_size(
    root: Path, model_dir: Path, batch_size: int, cases: int, new_tokens: int, encrypt: bool = True
) -> dict:
    folder = root / f"b{batch_size}"
    folder.mkdir()
    (folder / "config.toml").write_text(
        f'[database]\nurl = "sqlite:///{folder / "db.sqlite3"}"\n[storage]\ndir = "{folder / "images"}"\n'
        f'[model]\nname = "{model_dir}"\nmax_new_tokens = {new_tokens}\nrepetition_penalty = 1.0\n'
        f"[worker]\nbatch_size = {batch_size}\n"
    )
    config = load_config(folder / "config.toml", environ={})
    key = load_data_key(config) if encrypt else None
    db = open_database(config.database_url, key=key, encrypt=encrypt)
    upgrade(db)
    store = ImageStore(config.storage_dir, key, encrypt=encrypt)
    with db.write() as session:
        for i in range(cases):
            patient = ensure_patient(session, i + 1, i + 1)
            case = open_case(session, patient.id)
            case.description = f"Itchy red patch number {i} on the forearm, for two weeks, spreading slowly."
            add_image(session, case.id, store.put(photo(i), max_pixels=10**8))
            submit_case(session, case.id)

    def factory(spec):
        drafter = create_drafter(spec, config.model)
        drafter.model.generation_config.min_new_tokens = new_tokens  # same work for every batch size
        return drafter

    worker = Worker(config, db, factory, store=store, worker_id=f"bench-{batch_size}")
    worker.ensure_model()
    started = time.perf_counter()
    worker.run(threading.Event(), exit_when_idle=True)
    total = time.perf_counter() - started
    stats = worker.stats
    worker.close()
    db.dispose()
    tokens = stats.drafted * new_tokens
    return {
        "batch_size": batch_size,
        "drafts": stats.drafted,
        "seconds": round(total, 3),
        "drafts_per_s": round(stats.drafted / total, 4),
        "new_tokens_per_s": round(tokens / total, 2),
        "overhead_share": round(stats.db_seconds / total, 4),
        "image_decode_share": round(stats.image_seconds / total, 4),
        "generate_share": round(stats.generate_seconds / total, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch-sizes", default="1,2,4,8")
    parser.add_argument("--plain", action="store_true", help="no encryption at rest (to measure its cost)")
    args = parser.parse_args()
    use_ephemeral_key()  # throwaway data, encrypted as in service
    with tempfile.TemporaryDirectory(prefix="dermbot-bench-") as tmp:
        root = Path(tmp)
        model_dir = make_tiny_model(root / "model", "bench")
        params = json.loads((model_dir / "dermbot_tiny_model.json").read_text())["parameters"]
        # Warm-up (allocator, kernels) so batch size 1 is not charged for it.
        (root / "warmup").mkdir()
        run_batch_size(root / "warmup", model_dir, 2, 2, 4, not args.plain)
        rows = [
            run_batch_size(root, model_dir, int(b), args.cases, args.new_tokens, not args.plain)
            for b in args.batch_sizes.split(",")
        ]
    by_size = {r["batch_size"]: r for r in rows}
    speedup = by_size[8]["drafts_per_s"] / by_size[1]["drafts_per_s"] if 1 in by_size and 8 in by_size else None
    print(
        json.dumps(
            {
                "bench": "drafting",
                "model": "random LLaVA, bench geometry",
                "parameters": params,
                "device": "cpu",
                "dtype": "float32",
                "encrypted_at_rest": not args.plain,
                "cases": args.cases,
                "new_tokens_per_draft": args.new_tokens,
                "results": rows,
                "batch8_vs_batch1_drafts_per_s": round(speedup, 3) if speedup else None,
                "max_overhead_share": max(r["overhead_share"] for r in rows),
                "goals": {"batch8_vs_batch1_min": 3.0, "overhead_share_max": 0.05},
            }
        )
    )


if __name__ == "__main__":
    main()
