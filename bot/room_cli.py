"""``dermbot room status|ack``: the operator's view of the review group's lock (see bot/room.py).

    dermbot room status            locked or not, why and since when
    dermbot room ack [--by NAME]   after removing every non-clinician from the group: unlock it

The running bot reads the lock from the database for every review post, so an acknowledgement takes
effect at once; if the group still has more members than clinicians, the bot's next member count
(at most ``[review] room_check_minutes`` later, or at its next start) locks it again.
"""

from __future__ import annotations

import argparse
import getpass

from dermvqa.casework.review_room import acknowledge_room, room_state
from dermvqa.config import Config
from dermvqa.errors import ConfigError
from dermvqa.storage.database import open_database, upgrade
from dermvqa.storage.keys import load_data_key


def _review_chat(config: Config) -> int:
    if not config.review.chat_id:
        raise ConfigError("[review] chat_id: no review group is configured (reviews go to clinicians privately)")
    return config.review.chat_id


def cmd_room(config: Config, args: argparse.Namespace) -> int:
    chat_id = _review_chat(config)
    db = open_database(config.database_url, key=load_data_key(config), busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        upgrade(db)
        if args.action == "ack":
            actor = args.by or getpass.getuser()
            if acknowledge_room(db, chat_id, actor):
                print(f"review group {chat_id} unlocked by {actor}: review posts show cases there again")
            else:
                print(f"review group {chat_id} was not locked; nothing changed")
            return 0
        state = room_state(db, chat_id)
        if state.locked:
            print(f"review group {chat_id}: LOCKED since {state.since:%Y-%m-%d %H:%M} UTC ({state.reason})")
        else:
            print(f"review group {chat_id}: open (review posts show cases)")
        return 0
    finally:
        db.dispose()


def add_commands(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    room = sub.add_parser("room", parents=parents, help="the review group's lock: status, or ack to unlock")
    room.add_argument("action", choices=["status", "ack"])
    room.add_argument("--by", help="who acknowledges (recorded; default: the system user)")
    room.set_defaults(func=cmd_room)
