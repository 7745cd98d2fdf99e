"""Formatted-text parsing as the real Bot API does it (``parse_mode`` HTML, MarkdownV2 and Markdown).

The fake server turns a formatted text into the plain text and ``MessageEntity`` list that Telegram
would store, and refuses malformed markup with the same ``400 Bad Request: can't parse entities: ...``
descriptions Telegram gives. The rules follow tdlib's parsers (``td/telegram/MessageEntity.cpp``), so
a bot that escapes user text or model output wrongly fails here exactly as it would in production.

Offsets and lengths of entities are in UTF-16 code units; byte offsets in error messages are UTF-8
byte offsets, as in Telegram's own messages.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["EntityParseError", "parse_formatted_text", "utf16_len"]


class EntityParseError(ValueError):
    """Malformed markup; ``str(error)`` is the text after ``can't parse entities: ``."""


def utf16_len(text: str) -> int:
    """The length of ``text`` in UTF-16 code units (how Telegram measures texts and entities)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


def _entity(kind: str, offset: int, length: int, **extra: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {"type": kind, "offset": offset, "length": length}
    entity.update({key: value for key, value in extra.items() if value is not None})
    return entity


def _sorted(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


# --- HTML -------------------------------------------------------------------------------------------

_HTML_TAGS = {
    "a": "text_link",
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "tg-emoji": "custom_emoji",
    "pre": "pre",
    "code": "code",
    "blockquote": "blockquote",
}
_HTML_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|lt|gt|amp|quot);")
_UNQUOTED_VALUE = re.compile(r"[A-Za-z0-9.\-]*")


def _decode_html_entity(match: re.Match[str]) -> str:
    name = match.group(1)
    if name.startswith(("#x", "#X")):
        code = int(name[2:], 16)
    elif name.startswith("#"):
        code = int(name[1:])
    else:
        return {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}[name]
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return match.group(0)
    return chr(code)


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    out: list[str] = []
    utf16 = 0
    stack: list[dict[str, Any]] = []
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch == "&":
            match = _HTML_ENTITY.match(text, i)
            decoded = _decode_html_entity(match) if match else "&"
            out.append(decoded)
            utf16 += utf16_len(decoded)
            i = match.end() if match else i + 1
            continue
        if ch != "<":
            out.append(ch)
            utf16 += utf16_len(ch)
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
            end = text.find(">", i)
            if end == -1:
                raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
            name = text[i + 1 : end].strip().lower()
            expected = stack[-1]["tag"]
            if name and name != expected:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {_byte_offset(text, begin)}, expected "</{expected}>", '
                    f'found "</{name}>"'
                )
            opened = stack.pop()
            _close_html_entity(opened, utf16, stack, entities)
            i = end + 1
            continue
        end_of_name = i
        while end_of_name < n and not text[end_of_name].isspace() and text[end_of_name] != ">":
            end_of_name += 1
        if end_of_name >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        name = text[i:end_of_name].lower()
        if name not in _HTML_TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}')
        attributes, i = _parse_html_attributes(text, end_of_name, name, begin)
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, begin)}'
            )
        stack.append({"tag": name, "attributes": attributes, "offset": utf16})
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1]["tag"]}"')
    return "".join(out), _sorted(entities)


def _parse_html_attributes(text: str, i: int, tag: str, begin: int) -> tuple[dict[str, str], int]:
    """Reads ``name=value`` pairs up to the closing ``>``; returns them and the index after ``>``."""
    n = len(text)
    attributes: dict[str, str] = {}
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        if text[i] == ">":
            return attributes, i + 1
        name_begin = i
        while i < n and not text[i].isspace() and text[i] not in "=>":
            i += 1
        attribute = text[name_begin:i].lower()
        if not attribute:
            raise EntityParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset {_byte_offset(text, begin)}'
            )
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] != "=" and tag == "blockquote" and attribute == "expandable":
            attributes[attribute] = ""  # the one attribute Telegram accepts without a value
            continue
        if i >= n or text[i] != "=":
            raise EntityParseError(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset '
                f"{_byte_offset(text, begin)}"
            )
        i += 1
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        if text[i] in "'\"":
            end = text.find(text[i], i + 1)
            if end == -1:
                raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
            value = text[i + 1 : end]
            i = end + 1
        else:
            match = _UNQUOTED_VALUE.match(text, i)
            value = match.group(0) if match else ""
            i += len(value)
        attributes[attribute] = _HTML_ENTITY.sub(_decode_html_entity, value)


def _close_html_entity(
    opened: dict[str, Any], utf16: int, stack: list[dict[str, Any]], entities: list[dict[str, Any]]
) -> None:
    tag, attributes, offset = opened["tag"], opened["attributes"], opened["offset"]
    length = utf16 - offset
    kind = _HTML_TAGS[tag]
    if tag == "code" and stack and stack[-1]["tag"] == "pre":
        language = attributes.get("class", "")
        if language.startswith("language-"):
            stack[-1]["language"] = language[len("language-") :]
            return
    if length <= 0:
        return
    if kind == "text_link":
        url = attributes.get("href")
        if url:
            entities.append(_entity("text_link", offset, length, url=url))
    elif kind == "custom_emoji":
        emoji_id = attributes.get("emoji-id")
        if emoji_id:
            entities.append(_entity("custom_emoji", offset, length, custom_emoji_id=emoji_id))
    elif kind == "blockquote":
        expandable = "expandable" in attributes
        entities.append(_entity("expandable_blockquote" if expandable else "blockquote", offset, length))
    elif kind == "pre":
        entities.append(_entity("pre", offset, length, language=opened.get("language")))
    else:
        entities.append(_entity(kind, offset, length))


# --- MarkdownV2 -------------------------------------------------------------------------------------

_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!"
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def _reserved(ch: str) -> EntityParseError:
    return EntityParseError(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")


def _mdv2_is_end(kind: str, text: str, i: int) -> bool:
    ch = text[i]
    following = text[i + 1 : i + 3]
    return {
        "bold": ch == "*",
        "italic": ch == "_" and following[:1] != "_",
        "underline": ch == "_" and following[:1] == "_",
        "strikethrough": ch == "~",
        "spoiler": ch == "|" and following[:1] == "|",
        "code": ch == "`",
        "pre": ch == "`" and following == "``",
        "text_link": ch == "]",
        "custom_emoji": ch == "]",
    }[kind]


def _parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    out: list[str] = []
    utf16 = 0
    stack: list[dict[str, Any]] = []
    entities: list[dict[str, Any]] = []
    quote: dict[str, Any] | None = None  # the open block quote: offset, expandable
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if ch == "\\" and nxt and 0 < ord(nxt) <= 126:
            out.append(nxt)
            utf16 += 1
            i += 2
            continue
        top = stack[-1]["type"] if stack else None
        at_line_start = i == 0 or text[i - 1] == "\n"
        if top not in ("code", "pre") and at_line_start:
            expandable = text.startswith("**>", i)
            if ch == ">" or expandable:
                if quote is None:
                    quote = {"offset": utf16, "expandable": expandable}
                i += 3 if expandable else 1
                continue
        if ch == "\n" and quote is not None and top not in ("code", "pre") and not text.startswith(">", i + 1):
            _close_quote(quote, utf16, entities)
            quote = None
        reserved = "`" if top in ("code", "pre") else _MDV2_RESERVED
        if ch not in reserved:
            out.append(ch)
            utf16 += utf16_len(ch)
            i += 1
            continue
        if (
            quote is not None
            and quote["expandable"]
            and text.startswith("||", i)
            and (i + 2 == n or text[i + 2] == "\n")
            and top != "spoiler"
        ):
            i += 2
            continue
        if top is not None and _mdv2_is_end(top, text, i):
            opened = stack.pop()
            kind = opened["type"]
            if kind in ("underline", "spoiler"):
                i += 1
            elif kind == "pre":
                i += 2
            elif kind in ("text_link", "custom_emoji"):
                url = None
                if i + 1 < n and text[i + 1] == "(":
                    i += 2
                    url_begin = i
                    chars: list[str] = []
                    while i < n and text[i] != ")":
                        if text[i] == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                            chars.append(text[i + 1])
                            i += 2
                            continue
                        chars.append(text[i])
                        i += 1
                    if i >= n:
                        raise EntityParseError(
                            f"Can't find end of a URL at byte offset {_byte_offset(text, url_begin)}"
                        )
                    url = "".join(chars)
                opened["argument"] = url
            i += 1
            length = utf16 - opened["offset"]
            if length > 0:
                entities.extend(_mdv2_entity(opened, length))
            continue
        begin = i
        argument = None
        if ch == "_":
            kind = "underline" if nxt == "_" else "italic"
            i += 1 if nxt == "_" else 0
        elif ch == "*":
            kind = "bold"
        elif ch == "~":
            kind = "strikethrough"
        elif ch == "|":
            if nxt != "|":
                raise _reserved(ch)
            kind = "spoiler"
            i += 1
        elif ch == "[":
            kind = "text_link"
        elif ch == "`":
            if text.startswith("``", i + 1):
                kind = "pre"
                i += 3
                language_end = i
                while language_end < n and not text[language_end].isspace() and text[language_end] != "`":
                    language_end += 1
                if i != language_end and language_end < n and text[language_end] != "`":
                    argument = text[i:language_end]
                    i = language_end
                if i < n and text[i] in "\r\n":
                    two = i + 1 < n and text[i + 1] in "\r\n" and text[i] != text[i + 1]
                    i += 2 if two else 1
                i -= 1
            else:
                kind = "code"
        elif ch == "!" and nxt == "[":
            kind = "custom_emoji"
            i += 1
        else:
            raise _reserved(ch)
        stack.append({"type": kind, "argument": argument, "offset": utf16, "byte": _byte_offset(text, begin)})
        i += 1
    if stack:
        opened = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[opened['type']]} entity at byte offset {opened['byte']}"
        )
    if quote is not None:
        _close_quote(quote, utf16, entities)
    return "".join(out), _sorted(entities)


def _close_quote(quote: dict[str, Any], utf16: int, entities: list[dict[str, Any]]) -> None:
    if utf16 > quote["offset"]:
        kind = "expandable_blockquote" if quote["expandable"] else "blockquote"
        entities.append(_entity(kind, quote["offset"], utf16 - quote["offset"]))


def _mdv2_entity(opened: dict[str, Any], length: int) -> list[dict[str, Any]]:
    kind, argument, offset = opened["type"], opened["argument"], opened["offset"]
    if kind == "text_link":
        return [_entity("text_link", offset, length, url=argument)] if argument else []
    if kind == "custom_emoji":
        prefix = "tg://emoji?id="
        if not argument or not argument.startswith(prefix):
            raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
        return [_entity("custom_emoji", offset, length, custom_emoji_id=argument[len(prefix) :])]
    if kind == "pre":
        return [_entity("pre", offset, length, language=argument)]
    return [_entity(kind, offset, length)]


# --- legacy Markdown --------------------------------------------------------------------------------


def _parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    out: list[str] = []
    utf16 = 0
    entities: list[dict[str, Any]] = []
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            utf16 += 1
            i += 2
            continue
        if ch not in "_*`[":
            out.append(ch)
            utf16 += utf16_len(ch)
            i += 1
            continue
        begin = i
        end_char = "]" if ch == "[" else ch
        is_pre = ch == "`" and text.startswith("``", i + 1)
        language = None
        i += 3 if is_pre else 1
        if is_pre:
            language_end = i
            while language_end < n and not text[language_end].isspace() and text[language_end] != "`":
                language_end += 1
            if i != language_end and language_end < n and text[language_end] != "`":
                language = text[i:language_end]
                i = language_end + 1
        offset = utf16
        while i < n and (text[i] != end_char or (is_pre and not text.startswith("``", i + 1))):
            out.append(text[i])
            utf16 += utf16_len(text[i])
            i += 1
        if i >= n:
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}")
        length = utf16 - offset
        if ch == "[":
            url = None
            if text.startswith("(", i + 1):
                end = text.find(")", i + 2)
                if end != -1:
                    url = text[i + 2 : end]
                    i = end
            if url and length:
                entities.append(_entity("text_link", offset, length, url=url))
        elif length:
            kind = {"_": "italic", "*": "bold", "`": "pre" if is_pre else "code"}[ch]
            entities.append(_entity(kind, offset, length, language=language))
        i += 3 if is_pre else 1
    return "".join(out), _sorted(entities)


def parse_formatted_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Returns ``(plain_text, entities)`` for ``text`` in ``parse_mode`` (None: no formatting).

    Raises :class:`EntityParseError` for malformed markup and ``ValueError`` for an unknown mode
    (Telegram answers ``Bad Request: unsupported parse_mode``).
    """
    if not parse_mode:
        return text, []
    mode = parse_mode.lower()
    if mode == "html":
        plain, entities = _parse_html(text)
    elif mode == "markdownv2":
        plain, entities = _parse_markdown_v2(text)
    elif mode == "markdown":
        plain, entities = _parse_markdown(text)
    else:
        raise ValueError(f"unsupported parse_mode {parse_mode!r}")
    return plain, entities
