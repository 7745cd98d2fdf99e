"""The fake Telegram Bot API server, driven by a real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import html
import io
import json
import random
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import telegram
from PIL import Image
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.helpers import escape_markdown

from fake_telegram import FakeTelegramServer
from fake_telegram.parsemode import parse_formatted_text

USER = 1001
CLINICIAN = 2002


def png_bytes(width: int = 320, height: int = 240, color: str = "salmon") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(text, callback_data=data) for text, data in pairs]])


def make_bot(server: FakeTelegramServer, token: str | None = None) -> telegram.Bot:
    return telegram.Bot(token or server.token, base_url=server.base_url, base_file_url=server.base_file_url)


def raw_call(server: FakeTelegramServer, method: str, *, token: str | None = None, **kwargs: Any) -> tuple[int, dict]:
    """A Bot API call with urllib (no PTB): returns (HTTP status, decoded body)."""
    request = urllib.request.Request(f"{server.base_url}{token or server.token}/{method}", **kwargs)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def server() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as fake:
        yield fake


@pytest.fixture
async def bot(server: FakeTelegramServer) -> AsyncIterator[telegram.Bot]:
    async with make_bot(server) as client:
        yield client


async def test_get_me(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "dermbot_test" and me.id == 123456
    assert server.calls["getMe"] >= 1


async def test_send_message_with_inline_keyboard_is_recorded(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    markup = keyboard(("Approve", "approve:7"), ("Reject", "reject:7"))
    message = await bot.send_message(CLINICIAN, "Draft <b>ready</b> for case 7", parse_mode="HTML", reply_markup=markup)
    assert message.message_id == 1 and message.chat.id == CLINICIAN and message.from_user.is_bot
    assert message.text == "Draft ready for case 7"
    assert message.entities[0].type == "bold" and (message.entities[0].offset, message.entities[0].length) == (6, 5)
    assert message.reply_markup == markup
    [record] = server.messages_to(CLINICIAN)
    assert record["method"] == "sendMessage" and record["message_id"] == 1
    assert record["text"] == "Draft <b>ready</b> for case 7" and record["plain_text"] == "Draft ready for case 7"
    assert record["parse_mode"] == "HTML"
    assert [b["callback_data"] for b in record["reply_markup"]["inline_keyboard"][0]] == ["approve:7", "reject:7"]
    second = await bot.send_message(CLINICIAN, "next", reply_to_message_id=1, disable_notification=True)
    assert second.message_id == 2 and second.reply_to_message.message_id == 1
    assert server.sent[-1]["reply_to_message_id"] == 1 and server.sent[-1]["disable_notification"] is True


async def test_send_photo_upload_round_trip(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    image = png_bytes()
    message = await bot.send_photo(USER, image, caption="your photo", reply_markup=keyboard(("ok", "ok")))
    assert len(message.photo) == 2 and message.photo[0].width == 90 and message.photo[-1].width == 320
    assert message.caption == "your photo"
    record = server.sent[-1]
    assert record["method"] == "sendPhoto" and record["upload_size"] == len(image)
    assert record["photo"] == [size.file_id for size in message.photo]
    file = await bot.get_file(message.photo[-1].file_id)
    assert file.file_size == len(image) and file.file_path.startswith(server.base_file_url)
    assert bytes(await file.download_as_bytearray()) == image
    buffer = io.BytesIO()
    await file.download_to_memory(buffer)
    assert buffer.getvalue() == image
    again = await bot.send_photo(USER, message.photo[-1].file_id)  # re-send by file_id: no upload
    assert [p.file_id for p in again.photo] == [p.file_id for p in message.photo]
    assert server.sent[-1]["upload_size"] is None


async def test_send_media_group_with_two_uploads(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    first, second = png_bytes(color="red"), png_bytes(200, 100, "blue")
    messages = await bot.send_media_group(
        CLINICIAN, [InputMediaPhoto(first, caption="case 3"), InputMediaPhoto(second)]
    )
    assert (
        len(messages) == 2 and messages[0].media_group_id and messages[0].media_group_id == messages[1].media_group_id
    )
    assert [m.message_id for m in messages] == [1, 2] and messages[0].caption == "case 3"
    records = server.messages_to(CLINICIAN)
    assert [r["method"] for r in records] == ["sendMediaGroup"] * 2
    assert server.file_bytes(records[0]["photo"][-1]) == first and server.file_bytes(records[1]["photo"][-1]) == second
    # forwarding a user's album by file id (what the clinician review does)
    update = server.send_photo(USER, png_bytes(color="green"))
    file_id = update["message"]["photo"][-1]["file_id"]
    again = await bot.send_media_group(CLINICIAN, [InputMediaPhoto(file_id), InputMediaPhoto(messages[0].photo[-1])])
    assert again[0].photo[-1].file_id == file_id


async def test_user_photo_is_downloaded_by_the_bot(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    image = png_bytes(640, 480)
    update = server.send_photo(USER, image, caption="itchy rash on my arm", media_group_id="album1")
    [received] = await bot.get_updates(timeout=0)
    message = received.message
    assert received.update_id == update["update_id"] and message.caption == "itchy rash on my arm"
    assert message.media_group_id == "album1" and message.from_user.id == USER and message.chat.type == "private"
    assert (message.photo[-1].width, message.photo[-1].height) == (640, 480) and message.photo[0].width == 90
    file = await bot.get_file(message.photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == image
    thumbnail = await (await bot.get_file(message.photo[0].file_id)).download_as_bytearray()
    assert Image.open(io.BytesIO(bytes(thumbnail))).size == (90, 68)
    # a corrupt image is still delivered (one 0x0 size) and downloads byte for byte
    corrupt = server.send_photo(USER, b"\xff\xd8 not really a jpeg")["message"]["photo"]
    assert len(corrupt) == 1 and (corrupt[0]["width"], corrupt[0]["height"]) == (0, 0)
    file = await bot.get_file(corrupt[0]["file_id"])
    assert bytes(await file.download_as_bytearray()) == b"\xff\xd8 not really a jpeg"


async def test_get_file_refuses_files_over_20_mb(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    update = server.send_document(USER, b"\0" * (20 * 1024 * 1024 + 1), file_name="scan.tiff", mime_type="image/tiff")
    document = update["message"]["document"]
    assert document["file_name"] == "scan.tiff" and document["mime_type"] == "image/tiff"
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(document["file_id"])
    small = server.send_document(USER, b"%PDF-1.4", file_name="report.pdf", mime_type="application/pdf")
    file = await bot.get_file(small["message"]["document"]["file_id"])
    assert bytes(await file.download_as_bytearray()) == b"%PDF-1.4"
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("no-such-file")


async def test_get_updates_long_polls_and_offset_confirms(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=0.3) == ()
    assert time.monotonic() - started >= 0.25  # it waited for the timeout

    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    server.send_text(USER, "I have a mole that changed colour", first_name="Ana", language_code="pt")
    [update] = await poll
    assert time.monotonic() - started < 1.0  # answered as soon as the update arrived
    assert update.message.text == "I have a mole that changed colour" and update.message.entities == ()
    assert update.message.from_user.first_name == "Ana" and update.message.from_user.language_code == "pt"

    server.send_text(USER, "/start")
    server.send_text(3003, "/help@dermbot_test please", chat_id=-100, first_name="Bo")
    updates = await bot.get_updates(offset=update.update_id + 1, timeout=1)
    assert [u.message.text for u in updates] == ["/start", "/help@dermbot_test please"]
    command = updates[0].message.entities[0]
    assert (command.type, command.offset, command.length) == ("bot_command", 0, 6)
    assert updates[1].message.entities[0].length == len("/help@dermbot_test")
    assert updates[1].message.chat.type == "group" and updates[1].message.chat.id == -100

    assert len(await bot.get_updates(timeout=0)) == 2  # not confirmed yet
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()
    assert server.pending_updates == []


async def test_press_button_and_answer_callback(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    await bot.send_message(CLINICIAN, "Case 9 draft", reply_markup=keyboard(("Approve", "approve:9")))
    record = server.messages_to(CLINICIAN)[0]
    with pytest.raises(ValueError, match=r"(?i)no button"):
        server.press_button(CLINICIAN, record, "delete:9")
    pressed = server.press_button(CLINICIAN, record, "approve:9")
    [update] = await bot.get_updates(timeout=1)
    query = update.callback_query
    assert query.id == pressed["callback_query"]["id"] and query.data == "approve:9"
    assert query.from_user.id == CLINICIAN and query.message.message_id == record["message_id"]
    assert await query.answer("Approved")
    [answer] = server.answered_callbacks
    assert answer["callback_query_id"] == query.id and answer["text"] == "Approved" and answer["data"] == "approve:9"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer()


async def test_edit_message_text_changes_the_record(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    sent = await bot.send_message(CLINICIAN, "Draft: apply emollient", reply_markup=keyboard(("Approve", "a")))
    edited = await bot.edit_message_text("Approved ✅", chat_id=CLINICIAN, message_id=sent.message_id)
    assert edited.text == "Approved ✅" and edited.edit_date is not None and edited.reply_markup is None
    record = server.messages_to(CLINICIAN, include_edits=True)[-1]
    assert record["method"] == "editMessageText" and record["message_id"] == sent.message_id
    assert record["text"] == "Approved ✅" and record["reply_markup"] is None
    assert server.current_message(CLINICIAN, sent.message_id)["text"] == "Approved ✅"
    assert len(server.messages_to(CLINICIAN)) == 1  # edits are not new messages
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Approved ✅", chat_id=CLINICIAN, message_id=sent.message_id)
    with pytest.raises(ValueError, match=r"(?i)no button"):  # the edit removed the keyboard
        server.press_button(CLINICIAN, record, "a")
    markup = await bot.edit_message_reply_markup(CLINICIAN, sent.message_id, reply_markup=keyboard(("Undo", "u")))
    assert markup.reply_markup == keyboard(("Undo", "u"))
    photo = await bot.send_photo(CLINICIAN, png_bytes(), caption="before")
    assert (await bot.edit_message_caption(CLINICIAN, photo.message_id, caption="after")).caption == "after"
    assert await bot.delete_message(CLINICIAN, photo.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_caption(CLINICIAN, photo.message_id, caption="again")


async def test_failure_injection_retrying_client_gets_exactly_once(server: FakeTelegramServer) -> None:
    with FakeTelegramServer(fail_rate=0.3, seed=7) as flaky:
        async with make_bot(flaky) as client:
            attempts = 0
            for number in range(25):
                while True:
                    attempts += 1
                    try:
                        await client.send_message(USER, f"answer {number}")
                        break
                    except NetworkError as error:
                        assert "Internal Server Error" in str(error)
        texts = [record["text"] for record in flaky.messages_to(USER)]
        assert texts == [f"answer {number}" for number in range(25)]
        assert flaky.failures_injected > 0 and attempts == 25 + flaky.failures_injected
        assert flaky.calls["sendMessage"] == attempts
        assert all(error["injected"] and error["status"] == 500 for error in flaky.errors)
        assert [r["message_id"] for r in flaky.messages_to(USER)] == list(range(1, 26))


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's own int retry_after
async def test_retry_after_surfaces_as_retry_after(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    server.fail_next("sendMessage", status=429)
    with pytest.raises(RetryAfter, match=r"(?i)retry in 1"):  # parameters.retry_after = 1
        await bot.send_message(USER, "hello")
    assert server.sent == [] and server.failures_injected == 1
    await bot.send_message(USER, "hello")
    assert len(server.sent) == 1
    with FakeTelegramServer(retry_after_rate=1.0) as limited:
        async with make_bot(limited) as client:
            with pytest.raises(RetryAfter):
                await client.send_photo(USER, png_bytes())
            assert limited.sent == []


async def test_wrong_token_and_unknown_method(server: FakeTelegramServer) -> None:
    with pytest.raises(InvalidToken):
        async with make_bot(server, token="999:WRONG"):
            pass
    status, body = raw_call(server, "getMe", token="999:WRONG")
    assert (status, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    status, body = raw_call(server, "frobnicate")
    assert (status, body["description"]) == (404, "Not Found: method not found")
    status, body = raw_call(server, "GETME")  # method names are case-insensitive
    assert status == 200 and body["ok"] and body["result"]["username"] == "dermbot_test"


def test_parameter_encodings_json_form_and_query(server: FakeTelegramServer) -> None:
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    status, body = raw_call(
        server,
        "sendMessage",
        data=json.dumps({"chat_id": USER, "text": "json body", "reply_markup": markup}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 200 and body["result"]["reply_markup"] == markup
    form = urllib.parse.urlencode({"chat_id": str(USER), "text": "42", "reply_markup": json.dumps(markup)})
    status, body = raw_call(server, "sendMessage", data=form.encode())
    assert status == 200 and body["result"]["text"] == "42"  # a numeric-looking text stays a string
    status, body = raw_call(server, f"sendMessage?chat_id={USER}&text=query+string")
    assert status == 200 and body["result"]["text"] == "query string"
    assert [r["text"] for r in server.sent] == ["json body", "42", "query string"]


async def test_telegram_validation_catches_bot_bugs(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    with pytest.raises(BadRequest, match=r"(?i)Unsupported start tag"):
        await bot.send_message(USER, "size < 5 mm", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)Character '\.' is reserved"):
        await bot.send_message(USER, "Use *sunscreen* daily.", parse_mode="MarkdownV2")
    message = await bot.send_message(USER, "Use *sunscreen* daily\\.", parse_mode="MarkdownV2")
    assert message.text == "Use sunscreen daily." and message.entities[0].type == "bold"
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(USER, "  ")
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(USER, "hi", reply_markup=keyboard(("long", "x" * 65)))
    with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(USER, b"not an image")
    assert len(server.sent) == 1 and len(server.errors) == 6
    server.block_user(USER)
    with pytest.raises(Forbidden, match=r"(?i)blocked"):
        await bot.send_message(USER, "are you there?")


async def test_document_upload_keeps_bytes_and_unicode_file_name(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    data = bytes(range(256)) * 8 + b"\r\n--boundary\r\n\r\n"
    message = await bot.send_document(USER, data, filename='résumé "final".pdf', caption="report")
    assert message.document.file_name == 'résumé "final".pdf' and message.document.mime_type == "application/pdf"
    assert server.file_bytes(message.document.file_id) == data and server.sent[-1]["upload_size"] == len(data)


async def test_webhook_and_commands(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    assert await bot.set_my_commands([("start", "Start"), ("help", "Help")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert await bot.set_webhook("https://example.org/hook")
    assert (await bot.get_webhook_info()).url == "https://example.org/hook"
    with pytest.raises(Conflict, match=r"(?i)webhook is active"):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates(timeout=0) == ()
    assert await bot.send_chat_action(USER, "typing") and server.chat_actions[0]["action"] == "typing"
    assert await bot.delete_my_commands() and await bot.get_my_commands() == ()


async def test_stop_wakes_a_long_poll(server: FakeTelegramServer) -> None:
    async with make_bot(server) as client:
        poll = asyncio.create_task(client.get_updates(timeout=30))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await asyncio.to_thread(server.stop)
        try:
            result = await poll
        except NetworkError:  # the connection was closed before the empty answer went out
            result = ()
        assert result == () and time.monotonic() - started < 2.0


async def test_known_chats_only_and_groups() -> None:
    with FakeTelegramServer(known_chats_only=True) as strict:
        async with make_bot(strict) as client:
            with pytest.raises(BadRequest, match=r"(?i)chat not found"):
                await client.send_message(USER, "hello")
            strict.send_text(USER, "hi")
            strict.send_text(USER, "hi all", chat_id=-4321)
            assert (await client.send_message(USER, "hello")).message_id == 2
            group = await client.send_message(-4321, "hello group")
            assert group.chat.type == "group" and group.chat.title and group.message_id == 2


async def test_application_polling_answers_start(server: FakeTelegramServer) -> None:
    async def start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"Welcome, {update.effective_user.first_name}!")

    async def pressed(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer("noted")
        await update.callback_query.edit_message_text(f"You chose {update.callback_query.data}")

    app = (
        Application.builder().token(server.token).base_url(server.base_url).base_file_url(server.base_file_url).build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        try:
            server.send_text(USER, "/start", first_name="Ana")
            record = await server.async_wait_for(lambda r: r["chat_id"] == USER, timeout=5)
            assert record["text"] == "Welcome, Ana!"
            await app.bot.send_message(USER, "Which?", reply_markup=keyboard(("Yes", "yes")))
            server.press_button(USER, server.sent[-1], "yes")
            edit = await server.async_wait_for(lambda r: r["method"] == "editMessageText", timeout=5)
            assert edit["text"] == "You chose yes" and server.answered_callbacks[0]["text"] == "noted"
        finally:
            await app.updater.stop()
            await app.stop()
    assert server.calls["deleteWebhook"] == 1 and server.calls["getUpdates"] >= 2


def test_wait_for_times_out_with_a_dump(server: FakeTelegramServer) -> None:
    with pytest.raises(TimeoutError, match=r"(?i)calls: "):
        server.wait_for(lambda record: record["chat_id"] == 1, timeout=0.1)


def test_command_line_prints_base_urls(tmp_path: Any) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fake_telegram", "--port", "0", "--token", "42:ABC"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/bot")
        with urllib.request.urlopen(f"{base_url}42:ABC/getMe", timeout=5) as response:
            assert json.loads(response.read())["result"]["id"] == 42
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


def test_command_line_chat_mode() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fake_telegram", "--port", "0", "--chat", "7"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base_url = process.stdout.readline().strip()
        process.stdout.readline()  # base_file_url
        process.stdin.write("a rash since Monday\n")
        process.stdin.flush()
        with urllib.request.urlopen(f"{base_url}123456:TEST/getUpdates?timeout=5", timeout=10) as response:
            [update] = json.loads(response.read())["result"]
        assert update["message"]["text"] == "a rash since Monday" and update["message"]["chat"]["id"] == 7
        query = urllib.parse.urlencode({"chat_id": 7, "text": "Thanks, a clinician will review it"})
        urllib.request.urlopen(f"{base_url}123456:TEST/sendMessage?{query}", timeout=5).close()
        assert process.stdout.readline().strip() == "bot> Thanks, a clinician will review it"
        process.stdin.write("!quit\n")
        process.stdin.flush()
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()


def test_escaped_user_text_always_parses() -> None:
    """Text escaped with PTB's helpers (or html.escape) parses back to itself: no false refusals."""
    rng = random.Random(3)
    alphabet = "ab _*[]()~`>#+-=|{}.!\\\n<>&\"'é😀"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 25)))
        assert parse_formatted_text(escape_markdown(text, version=2), "MarkdownV2") == (text, [])
        assert parse_formatted_text(html.escape(text), "HTML") == (text, [])
    plain, entities = parse_formatted_text("😀 <b>bold</b> <blockquote expandable>q</blockquote>", "HTML")
    assert plain == "😀 bold q"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 4},  # offsets count UTF-16 code units
        {"type": "expandable_blockquote", "offset": 8, "length": 1},
    ]


# -- Telegram as it really behaves: privacy mode, ForceReply, file types, UTF-16 limits, 48 hours ------------

GROUP = -1009876543210
EMOJI = "😀"  # one Python character, two UTF-16 code units


async def _updates(client: telegram.Bot) -> list[telegram.Update]:
    updates = list(await client.get_updates(timeout=0))
    if updates:
        await client.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    return updates


async def test_privacy_mode_delivers_only_commands_replies_and_mentions(
    bot: telegram.Bot, server: FakeTelegramServer
) -> None:
    assert server.privacy_mode and not (await bot.get_me()).can_read_all_group_messages
    posted = await bot.send_message(GROUP, "A case for review")
    server.send_text(USER, "plain chat between colleagues", chat_id=GROUP)
    server.send_text(USER, "/queue", chat_id=GROUP)
    server.send_text(USER, "/queue@dermbot_test", chat_id=GROUP)
    server.send_text(USER, "/queue@some_other_bot", chat_id=GROUP)
    server.send_text(USER, "what do you think, @DermBot_Test?", chat_id=GROUP)
    server.send_text(USER, "a reply to the bot", chat_id=GROUP, reply_to_message_id=posted.message_id)
    server.send_photo(USER, png_bytes(), chat_id=GROUP, caption="a photo nobody asked for")
    server.send_text(USER, "private chats are never filtered")
    texts = [u.message.text for u in await _updates(bot)]
    assert texts == [
        "/queue",
        "/queue@dermbot_test",
        "what do you think, @DermBot_Test?",
        "a reply to the bot",
        "private chats are never filtered",
    ]
    withheld = [u["message"].get("text") or u["message"].get("caption") for u in server.withheld_updates]
    assert withheld == ["plain chat between colleagues", "/queue@some_other_bot", "a photo nobody asked for"]
    server.privacy_mode = False  # BotFather /setprivacy Disable
    server.send_text(USER, "now the bot reads everything", chat_id=GROUP)
    assert [u.message.text for u in await _updates(bot)] == ["now the bot reads everything"]
    assert (await bot.get_me()).can_read_all_group_messages


async def test_privacy_mode_off_by_constructor_and_admin_bots_read_everything() -> None:
    with FakeTelegramServer(privacy_mode=False) as open_server:
        async with make_bot(open_server) as client:
            open_server.send_text(USER, "hello group", chat_id=GROUP)
            assert [u.message.text for u in await _updates(client)] == ["hello group"]
    with FakeTelegramServer() as strict:
        async with make_bot(strict) as client:
            strict.set_bot_admin(GROUP)
            strict.send_text(USER, "hello admin bot", chat_id=GROUP)
            assert [u.message.text for u in await _updates(client)] == ["hello admin bot"]


async def test_reply_to_a_selective_force_reply_prompt(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    server.send_text(USER, "/start", chat_id=GROUP, first_name="Ada")
    await _updates(bot)
    mention = telegram.MessageEntity(
        "text_mention", 0, 3, user=telegram.User(USER, "Ada", is_bot=False)
    )
    prompt = await bot.send_message(
        GROUP,
        "Ada, send the corrected answer in reply to this message.",
        entities=[mention],
        reply_markup=telegram.ForceReply(selective=True, input_field_placeholder="Answer for case #1"),
    )
    assert prompt.reply_markup is None  # Telegram does not echo a ForceReply in the Message
    server.reply_to_prompt(USER, prompt, "The corrected answer " + EMOJI)
    (update,) = await _updates(bot)
    assert update.message.reply_to_message.message_id == prompt.message_id
    assert update.message.reply_to_message.entities[0].user.id == USER
    with pytest.raises(ValueError, match="selective"):
        server.reply_to_prompt(CLINICIAN, prompt, "not my prompt")  # a colleague's client shows no reply field
    plain = await bot.send_message(GROUP, "no ForceReply here")
    with pytest.raises(ValueError, match="no ForceReply"):
        server.reply_to_prompt(USER, plain, "text")
    by_reply = await bot.send_message(
        GROUP,
        "answer me",
        reply_to_message_id=update.message.message_id,
        reply_markup=telegram.ForceReply(selective=True),
    )
    server.reply_to_prompt(USER, by_reply, "selective also targets the sender of the replied message")
    assert len(await _updates(bot)) == 1


async def test_force_reply_placeholder_is_at_most_64_utf16_units(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    await bot.send_message(USER, "ok", reply_markup=telegram.ForceReply(input_field_placeholder="x" * 64))
    with pytest.raises(BadRequest, match=r"(?i)placeholder"):
        await bot.send_message(USER, "too long", reply_markup=telegram.ForceReply(input_field_placeholder=EMOJI * 33))


async def test_file_ids_carry_their_type(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    document = server.send_document(USER, png_bytes(), file_name="skin.png", mime_type="image/png")
    photo = server.send_photo(USER, png_bytes())
    document_id = document["message"]["document"]["file_id"]
    photo_id = photo["message"]["photo"][-1]["file_id"]
    with pytest.raises(BadRequest, match=r"(?i)type of file mismatch"):
        await bot.send_photo(USER, document_id)
    with pytest.raises(BadRequest, match=r"(?i)type of file mismatch"):
        await bot.send_document(USER, photo_id)
    with pytest.raises(BadRequest, match=r"(?i)type of file mismatch"):
        await bot.send_media_group(USER, [InputMediaPhoto(photo_id), InputMediaPhoto(document_id)])
    with pytest.raises(BadRequest, match=r"(?i)can't be mixed"):
        await bot.send_media_group(USER, [InputMediaPhoto(photo_id), telegram.InputMediaDocument(document_id)])
    assert server.sent == []  # nothing half-sent
    sent = await bot.send_document(USER, document_id, caption="as a document")
    album = await bot.send_media_group(
        USER, [telegram.InputMediaDocument(document_id), telegram.InputMediaDocument(document_id)]
    )
    assert sent.document.file_id == document_id and len(album) == 2
    assert (await bot.send_photo(USER, photo_id)).photo[-1].file_id == photo_id


async def test_limits_are_utf16_code_units(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    text = EMOJI * 2048  # 2048 characters, 4096 units: the most a message can hold
    assert (await bot.send_message(USER, text)).text == text
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, EMOJI * 2049)  # 2049 characters, 4098 units
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_photo(USER, png_bytes(), caption=EMOJI * 513)
    message = await bot.send_message(USER, EMOJI + " <b>bold</b>", parse_mode="HTML")
    assert (message.entities[0].offset, message.entities[0].length) == (3, 4)
    server.send_text(USER, "/start")
    await _updates(bot)
    sent = await bot.send_message(USER, "press", reply_markup=keyboard(("b", "x")))
    server.press_button(USER, sent, "x")
    (update,) = await _updates(bot)
    with pytest.raises(BadRequest, match=r"(?i)MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(update.callback_query.id, EMOJI * 101)  # 202 units
    assert await bot.answer_callback_query(update.callback_query.id, EMOJI * 100)


async def test_messages_48_hours_old_cannot_be_deleted(bot: telegram.Bot, server: FakeTelegramServer) -> None:
    fresh = await bot.send_message(GROUP, "fresh")
    old = await bot.send_message(GROUP, "old")
    server.age_message(GROUP, old.message_id, 48 * 3600 + 1)
    assert await bot.delete_message(GROUP, fresh.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message can't be deleted"):
        await bot.delete_message(GROUP, old.message_id)
    assert server.current_message(GROUP, old.message_id) is not None
