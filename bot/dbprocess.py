"""The bot's database work in a child process of its own.

    python -m bot.dbprocess FD        (started by :class:`DbProcess`, never by hand)

Why a process and not a thread: the bot's event loop is bound to one core by the interpreter lock.
On a thread, the database work's Python half (SQLAlchemy building statements and reading rows)
holds that lock between SQLite calls, so every Submit's transaction delays every other patient's
reply; and the driver hands the lock over at every SQLite step (40-60 times per Submit), which costs
the event loop too. In a child process the same transactions run on another core, in order, while
the loop goes on; a call costs one message each way over a socket.

Semantics are the thread's: calls run one at a time, in the order they were made, each a blocking
core function (``fn(*args, **kwargs)``) returning its result or raising its exception in the caller.
Arguments and results cross by pickle. The bot's ``Database`` and ``ImageStore`` cross by name (the
child opens its own, with the same URL and key); exceptions cross as their class, ``args`` and
attributes, without traceback or cause. The key travels over the socket, never in argv or a file;
the child's environment is the worker's (less the token and the webhook secret).

The child ignores SIGINT and SIGTERM (a Ctrl-C or a service manager signals the whole group): it
finishes what the bot still asks while shutting down (the last delivery and incoming records) and
ends when the bot closes the socket, or dies. If the child dies, the calls waiting on it fail with
:class:`DatabaseProcessError` (their transactions rolled back, as after a crash) and the next call
starts a new child.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import pickle
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

from bot.heap import settle_heap
from dermvqa.config import child_environment
from dermvqa.errors import DermError
from dermvqa.storage.database import Database, open_database
from dermvqa.storage.image_store import ImageStore
from dermvqa.storage.keys import DataKey
from dermvqa.storage.shared_writes import Failed

logger = logging.getLogger(__name__)
T = TypeVar("T")
_FRAME = struct.Struct("!QI")  # call id, payload length
_READY = 0  # the child's first frame: it opened the database (payload: None or the error)
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0


class DatabaseProcessError(DermError):
    """The database process ended (or could not send back a result) while a call waited on it."""

    loggable = True  # names a state and an exception type, never a value


@dataclass(frozen=True)
class Recipe:
    """How the child opens what the bot's calls name: the bot's database and photo store."""

    url: str
    key: DataKey | None
    busy_timeout_ms: int
    store_root: str
    store_key: DataKey | None  # None: a plain photo store
    verbose: bool


def _rebuild_exception(cls: type[BaseException], args: tuple, state: dict) -> BaseException:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


def _shared_object(name: str) -> Any:
    """Stands for a shared object in a pickle; the unpickler puts its own process's object there."""
    raise DatabaseProcessError(f"shared object {name!r} read outside the database process's unpickler")


class _Pickler(pickle.Pickler):
    """Pickles the shared objects by name and exceptions by class, args and attributes (an
    exception's own ``__reduce__`` calls ``cls(*args)``, which breaks for most custom ones).

    Both in ``reducer_override``, which pickle calls only for objects of other types than the
    built-in ones (``persistent_id`` is called for every int and str: three times the cost)."""

    def __init__(self, file: BytesIO, shared: dict[int, str]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._shared = shared

    def reducer_override(self, obj: Any) -> Any:
        name = self._shared.get(id(obj))
        if name is not None:
            return _shared_object, (name,)
        if isinstance(obj, BaseException):
            return _rebuild_exception, (type(obj), obj.args, dict(obj.__dict__))
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: BytesIO, shared: dict[str, Any]) -> None:
        super().__init__(file)
        self._shared = shared

    def find_class(self, module: str, name: str) -> Any:
        if module == _shared_object.__module__ and name == _shared_object.__name__:
            return self._shared.__getitem__  # this process's object of that name
        return super().find_class(module, name)


def _dump(obj: Any, shared: dict[int, str]) -> bytes:
    buffer = BytesIO()
    _Pickler(buffer, shared).dump(obj)
    return buffer.getvalue()


def _load(data: bytes, shared: dict[str, Any]) -> Any:
    return _Unpickler(BytesIO(data), shared).load()


def _frame(call_id: int, payload: bytes) -> bytes:
    return _FRAME.pack(call_id, len(payload)) + payload


def _split_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """The whole frames at the start of ``buffer`` (removed from it); a partial one stays."""
    frames = []
    while len(buffer) >= _FRAME.size:
        call_id, size = _FRAME.unpack_from(buffer)
        if len(buffer) < _FRAME.size + size:
            break
        frames.append((call_id, bytes(buffer[_FRAME.size : _FRAME.size + size])))
        del buffer[: _FRAME.size + size]
    return frames


class DbProcess:
    """Runs blocking core functions in the bot's database process (the same interface as
    :class:`bot.dbthread.DbThread`).

    A call's frame is appended to the outgoing buffer synchronously, before the caller can be
    cancelled, so frames never interleave and leave in the order of the calls; the socket's writer
    callback flushes what the kernel did not take at once."""

    def __init__(self, db: Database, store: ImageStore) -> None:
        self._db, self._store = db, store
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._inbox = bytearray()  # bytes read, not yet a whole frame
        self._outbox = bytearray()  # frames not yet taken by the socket
        self._sock: socket.socket | None = None
        self._child: subprocess.Popen | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starting: asyncio.Future | None = None
        self._closed = False
        self._to_child = {id(db): "db", id(store): "store"}
        self._from_child: dict[str, Any] = {"db": db, "store": store}

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def _recipe(self) -> Recipe:
        return Recipe(
            url=self._db.url,
            key=self._db.key,
            busy_timeout_ms=self._db.busy_timeout_ms,
            store_root=str(self._store.root),
            store_key=self._store.key,
            verbose=logging.getLogger().isEnabledFor(logging.DEBUG),
        )

    async def start(self) -> None:
        """Start the child and wait until it has opened the database (its errors are raised here).
        Calls made meanwhile wait for the same start."""
        if self._closed:
            raise DatabaseProcessError("the database process was closed")
        if self._sock is not None:
            return
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        starting = self._starting
        try:
            await asyncio.shield(starting)
        finally:
            if starting.done() and self._starting is starting:
                self._starting = None

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        recipe = self._recipe()
        # the child imports and opens the database for about a second: off the event loop
        child, sock = await loop.run_in_executor(None, _spawn, recipe)
        try:
            sock.setblocking(False)
            loop.add_reader(sock.fileno(), self._readable)
        except BaseException:
            sock.close()
            _stop(child)
            raise
        self._loop, self._sock, self._child = loop, sock, child
        logger.info("database process started (pid %d)", child.pid)

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._sock is None:
            await self.start()
        assert self._sock is not None and self._loop is not None
        call_id = next(self._ids)
        payload = _dump((fn, args, kwargs), self._to_child)
        future = self._loop.create_future()
        self._waiting[call_id] = future
        self._outbox += _frame(call_id, payload)
        self._flush()
        return await future

    def _flush(self) -> None:
        """Hand the socket what it takes now; the rest when it is writable again."""
        if self._sock is None or not self._outbox:
            return
        try:
            sent = self._sock.send(self._outbox)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._gone()
            return
        del self._outbox[:sent]
        assert self._loop is not None
        if self._outbox:
            self._loop.add_writer(self._sock.fileno(), self._flush)
        else:
            self._loop.remove_writer(self._sock.fileno())

    def _readable(self) -> None:
        assert self._sock is not None
        try:
            chunk = self._sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._gone()
            return
        self._inbox += chunk
        self._resolve(_split_frames(self._inbox))

    def _resolve(self, frames: list[tuple[int, bytes]]) -> None:
        for call_id, payload in frames:
            future = self._waiting.pop(call_id, None)
            if future is None or future.done():  # its caller was cancelled
                continue
            try:
                ok, value = _load(payload, self._from_child)
            except Exception as exc:  # a result class the bot cannot import: say which, not what
                ok, value = False, DatabaseProcessError(f"a result could not be read ({type(exc).__name__})")
            if ok:
                future.set_result(value)
                continue
            try:
                future.set_exception(value)
            except TypeError:  # StopIteration cannot be set on a future
                future.set_exception(DatabaseProcessError(f"the call raised {type(value).__name__}"))

    def _gone(self) -> None:
        """The child ended: fail what waits on it; the next call starts a new one."""
        code = self._child.poll() if self._child is not None else None
        logger.error("database process ended (exit %s); %d calls failed", code, len(self._waiting))
        self._close_socket()
        child, self._child = self._child, None
        if child is not None:
            _stop(child)
        self._fail_waiting("the database process ended during the call")

    def _fail_waiting(self, why: str) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(DatabaseProcessError(why))

    def _close_socket(self) -> None:
        if self._sock is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._sock.fileno())
            self._loop.remove_writer(self._sock.fileno())
        self._sock.close()
        self._sock = None
        self._inbox.clear()
        self._outbox.clear()

    def close(self) -> None:
        """Stop after every call made so far: the child runs them all, their results are handed
        back, then it ends (as :meth:`DbThread.close` waits for its queue). Later calls fail."""
        self._closed = True
        sock = self._sock
        if sock is not None:  # (synchronous: the loop's reader and writer cannot fire meanwhile)
            try:
                sock.settimeout(_STOP_TIMEOUT_S)
                sock.sendall(self._outbox)
                self._outbox.clear()
                sock.shutdown(socket.SHUT_WR)  # the child's end of input: it finishes and leaves
                while chunk := sock.recv(1 << 20):
                    self._inbox += chunk
                    self._resolve(_split_frames(self._inbox))
            except OSError:  # the child died, or took longer than the timeout
                pass
            self._close_socket()
        child, self._child = self._child, None
        if child is not None:
            _stop(child)
        self._fail_waiting("the database process was closed")


def _spawn(recipe: Recipe) -> tuple[subprocess.Popen, socket.socket]:
    """Start ``python -m bot.dbprocess`` on one end of a socket pair and wait for it to open the
    database; the other end is returned (blocking: run it off the event loop)."""
    ours, theirs = socket.socketpair()
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "bot.dbprocess", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            # less the token and webhook secret; in the bot's working directory, so relative database
            # and photo paths mean the same files
            env=child_environment(import_root=Path(__file__).resolve().parents[1]),
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    try:
        ours.settimeout(_START_TIMEOUT_S)
        ours.sendall(_frame(_READY, pickle.dumps(recipe)))
        _, size = _FRAME.unpack(_recv_exact(ours, _FRAME.size))
        error = _load(_recv_exact(ours, size), {})
    except BaseException as exc:
        ours.close()
        _stop(child)
        if isinstance(exc, (OSError, EOFError)):
            raise DatabaseProcessError(f"the database process did not start ({type(exc).__name__})") from None
        raise
    if error is not None:
        ours.close()
        _stop(child)
        raise error
    return child, ours


def _stop(child: subprocess.Popen) -> None:
    """Wait for a child that has lost its socket (it ends after its current call); kill it past the
    timeout."""
    try:
        child.wait(_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        logger.error("database process did not end in %.0f s; killed", _STOP_TIMEOUT_S)
        child.kill()
        child.wait()


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("socket closed")
        data += chunk
    return bytes(data)


# -- the child --------------------------------------------------------------------------------


def _open(recipe: Recipe) -> dict[str, Any]:
    db = open_database(
        recipe.url, key=recipe.key, encrypt=recipe.key is not None, busy_timeout_ms=recipe.busy_timeout_ms
    )
    store = ImageStore(recipe.store_root, recipe.store_key, encrypt=recipe.store_key is not None)
    return {"db": db, "store": store}


def _read_calls(sock: socket.socket, calls: queue.SimpleQueue) -> None:
    """Reads calls as they come (the bot never blocks on a full socket while a call runs)."""
    try:
        while True:
            call_id, size = _FRAME.unpack(_recv_exact(sock, _FRAME.size))
            calls.put((call_id, _recv_exact(sock, size)))
    except (EOFError, OSError):
        calls.put(None)


def serve(sock: socket.socket) -> None:
    """The child's loop: open the database, then run each call and send back its outcome."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _, size = _FRAME.unpack(_recv_exact(sock, _FRAME.size))
    recipe: Recipe = pickle.loads(_recv_exact(sock, size))
    from bot.logsetup import configure_logging

    configure_logging(recipe.verbose)
    try:
        shared = _open(recipe)
    except Exception as exc:
        sock.sendall(_frame(_READY, _dump(exc, {})))
        return
    sock.sendall(_frame(_READY, _dump(None, {})))
    # A long-running process with a large start-up heap (SQLAlchemy, the models), as the bot's own:
    # frozen, and young collections every 50,000 allocations rather than 700 (bot/heap.py).
    settle_heap()
    names = {id(obj): name for name, obj in shared.items()}
    calls: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_read_calls, args=(sock, calls), name="db-calls", daemon=True).start()
    answering = True
    while (item := calls.get()) is not None:
        call_id, payload = item
        try:
            fn, args, kwargs = _load(payload, shared)
            outcome = True, fn(*args, **kwargs)
        except Exception as exc:  # raised by the call, or a call this process cannot read: the caller's
            outcome = False, exc
        reply = _reply(outcome, names)
        if answering:
            try:
                sock.sendall(_frame(call_id, reply))
            except OSError:  # the bot died: its remaining calls still run (they were asked for)
                answering = False
    shared["db"].dispose()


def _reply(outcome: tuple[bool, Any], names: dict[int, str]) -> bytes:
    """``outcome`` pickled; what cannot be (e.g. an exception holding a connection) becomes a
    DatabaseProcessError that names its type, never its contents. In a shared transaction's results
    (``dermvqa.storage.shared_writes``) only the failed write whose error cannot cross is replaced:
    the writes that committed keep their results."""
    try:
        return _dump(outcome, names)
    except Exception as exc:
        unsendable = exc
    ok, value = outcome
    if ok and isinstance(value, list) and any(isinstance(item, Failed) for item in value):
        try:
            return _dump((True, [_sendable(item, names) for item in value]), names)
        except Exception as exc:
            unsendable = exc
    what = type(value).__name__
    return _dump((False, DatabaseProcessError(f"{what} could not be sent back ({type(unsendable).__name__})")), {})


def _sendable(item: Any, names: dict[int, str]) -> Any:
    if not isinstance(item, Failed):
        return item
    try:
        _dump(item, names)
        return item
    except Exception as exc:
        what = type(item.error).__name__
        return Failed(DatabaseProcessError(f"{what} could not be sent back ({type(exc).__name__})"))


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    try:
        serve(sock)
    finally:
        sock.close()


if __name__ == "__main__":
    # run from the imported module, not this ``__main__`` copy: exceptions defined here must pickle
    # as ``bot.dbprocess.*``, the names the bot knows
    import bot.dbprocess

    bot.dbprocess.main()
