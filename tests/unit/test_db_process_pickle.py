"""bot.dbprocess's pickles: the shared objects cross by name, exceptions by class and fields."""

from __future__ import annotations

import pickle

import pytest

from bot.dbprocess import DatabaseProcessError, _dump, _load
from dermvqa.errors import ConfigError


class Handle:
    """Stands for the database or the image store: each process has its own."""


def test_a_shared_object_crosses_by_name_and_becomes_the_other_sides_own():
    here, there = Handle(), Handle()
    payload = _dump((len, ([here, {"n": 1}],), {"store": here}), {id(here): "db"})
    fn, args, kwargs = _load(payload, {"db": there})
    assert fn is len and args == ([there, {"n": 1}],) and kwargs == {"store": there}


def test_a_shared_object_is_not_pickled_itself():
    payload = _dump(Handle(), {})  # not shared: pickled as any object
    assert isinstance(_load(payload, {}), Handle)
    shared = Handle()
    named = _dump(shared, {id(shared): "db"})
    with pytest.raises(DatabaseProcessError, match="shared object 'db'"):
        pickle.loads(named)  # only the database process's unpickler knows what it stands for


def test_an_exception_comes_back_with_its_class_and_fields():
    error = ConfigError("bad [database] url")
    error.hint = "see config.toml"
    back = _load(_dump((False, error), {}), {})[1]
    assert type(back) is ConfigError and back.args == error.args and back.hint == "see config.toml"
