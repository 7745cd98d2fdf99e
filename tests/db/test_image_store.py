"""The content-addressed photo store."""

from __future__ import annotations

import threading

from support.cases import photo_bytes

from dermvqa.storage.image_store import ImageStore


def test_the_same_photo_stored_by_many_threads_at_once(tmp_path):
    store = ImageStore(tmp_path)
    data = photo_bytes(size=(400, 300))
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def put() -> None:
        barrier.wait()
        try:
            store.put(data, max_pixels=10**8)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1  # one file, no temporary left behind
    assert files[0].name == store.put(data, max_pixels=10**8).sha256
