"""Reading protocol payloads (queuebox/protocol.py): the JSON object in a payload and its
typed fields. Pure, no I/O.

`load_object` checks, in this order: the size (at most MAX_PAYLOAD bytes, before anything
else), UTF-8, JSON without NaN/Infinity or a repeated key, an object at the top, and no
lone surrogate escape in any string. `Fields` reads one field at a time; every refusal is a
`ProtocolError` naming the field and carrying the command's id when it is readable.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from queuebox.errors import QueueboxError

MAX_PAYLOAD = 4096  # bytes of one payload
MAX_ID = 64  # characters of a command id

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # how a lone surrogate gets into JSON text
_SURROGATE = re.compile("[\ud800-\udfff]")
_SERVICE_CODE = re.compile(r"[A-Z]{1,3}")  # the rule of queuebox/config.py
GROUP_CODE = re.compile(r"[A-Z0-9]{1,4}")  # a priority group's code, here and in the config


class ProtocolError(QueueboxError, ValueError):
    """A payload that breaks the protocol; `code` is 'bad_request', `command_id` its id if readable, else None."""

    def __init__(self, message: str, command_id: str | None = None) -> None:
        self.code = "bad_request"
        self.message = message
        self.command_id = command_id
        super().__init__(message)


def parse_moment(text: str) -> datetime:
    """An ISO-8601 time of the protocol (with its UTC offset), zone-aware; ValueError otherwise."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment



class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(f"key {show(key)} appears twice in one object")
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_object(payload: bytes | str) -> dict[str, Any]:
    """The JSON object in `payload`, size checked before anything else; ProtocolError otherwise."""
    if isinstance(payload, str):
        if len(payload) > MAX_PAYLOAD:  # each character is at least one byte
            raise ProtocolError(f"payload is more than the {MAX_PAYLOAD}-byte limit")
        try:
            payload = payload.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ProtocolError("payload is not valid UTF-8 text") from exc
    elif isinstance(payload, memoryview):
        if payload.nbytes > MAX_PAYLOAD:
            raise ProtocolError(f"payload is {payload.nbytes} bytes, more than the {MAX_PAYLOAD}-byte limit")
        payload = payload.tobytes()
    elif not isinstance(payload, (bytes, bytearray)):
        raise ProtocolError(f"payload must be bytes, not {type(payload).__name__}")
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload is {len(payload)} bytes, more than the {MAX_PAYLOAD}-byte limit")
    try:
        text = bytes(payload).decode("utf-8")  # explicitly: json.loads would also guess UTF-16/32
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"payload is not UTF-8 (bad byte at offset {exc.start})") from exc
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _DuplicateKey as exc:
        raise ProtocolError(f"payload is ambiguous: {exc}") from exc
    except RecursionError as exc:
        raise ProtocolError("payload is nested too deeply") from exc
    except ValueError as exc:
        raise ProtocolError(f"payload is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError(f"payload must be a JSON object, not {kind_of(obj)}")
    # A valid pair of escapes makes one character; only a lone one leaves a surrogate behind,
    # which can be neither stored (SQLite wants UTF-8) nor sent back in a reply.
    if _SURROGATE_ESCAPE.search(text) and _has_surrogate(obj):
        command_id = obj.get("id")
        raise ProtocolError("payload is not Unicode text: it holds a lone surrogate escape (\\ud800-\\udfff)",
                            None if _has_surrogate(command_id) else valid_id(command_id))
    return obj


def _has_surrogate(value: Any) -> bool:
    """Whether any string in `value` (keys too, at any depth) holds a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def valid_id(value: Any) -> str | None:
    """`value` if it is a usable command id (a string of 1 to MAX_ID characters), else None."""
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID else None


def kind_of(value: Any) -> str:
    """The JSON name of `value`'s type."""
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def show(value: Any, limit: int = 40) -> str:
    """`value` as JSON for an error message, shortened."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = kind_of(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Fields:
    """Reads the fields of one JSON object; every error names the field and carries the command id."""

    def __init__(self, obj: dict[str, Any], path: str = "", command_id: str | None = None) -> None:
        self.obj = obj
        self.path = path
        self.id = command_id if path else valid_id(obj.get("id"))  # nested objects carry their parent's id

    def error(self, message: str) -> ProtocolError:
        return ProtocolError(message, self.id)

    def name(self, key: str) -> str:
        return f'"{self.path}.{key}"' if self.path else f'"{key}"'

    def child(self, path: str, value: Any) -> Fields:
        if not isinstance(value, dict):
            raise self.error(f'"{path}" must be an object, not {show(value)}')
        return Fields(value, path, self.id)

    def missing(self, key: str) -> ProtocolError:
        return self.error(f"{self.name(key)} is required")

    def command_id(self) -> str:
        if "id" not in self.obj:
            raise self.missing("id")
        value = self.obj["id"]
        if not isinstance(value, str):
            raise self.error(f'"id" must be a string, not {show(value)}')
        if not 0 < len(value) <= MAX_ID:
            raise self.error(f'"id" must be 1 to {MAX_ID} characters, not {len(value)}')
        return value

    def boolean(self, key: str, default: bool | None = None) -> bool:
        """A true/false field; with a `default` it is optional, and null counts as absent."""
        if key not in self.obj or (default is not None and self.obj[key] is None):
            if default is None:
                raise self.missing(key)
            return default
        value = self.obj[key]
        if not isinstance(value, bool):
            raise self.error(f"{self.name(key)} must be true or false, not {show(value)}")
        return value

    def integer(self, key: str, low: int | None = None, high: int | None = None) -> int:
        if key not in self.obj:
            raise self.missing(key)
        value = self.obj[key]
        # bool is a subclass of int in Python but not a number in JSON: `true` is refused
        if type(value) is not int or (low is not None and value < low) or (high is not None and value > high):
            bounds = f" from {low} to {high}" if high is not None else f" of {low} or more" if low is not None else ""
            raise self.error(f"{self.name(key)} must be a whole number{bounds}, not {show(value)}")
        return value

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        if key not in self.obj:
            raise self.error(f"{self.name(key)} is required: one of {', '.join(options)}")
        value = self.obj[key]
        if not isinstance(value, str) or value not in options:
            raise self.error(f"{self.name(key)} must be one of {', '.join(options)}, not {show(value)}")
        return value

    def service(self, key: str, required: bool = True) -> str | None:
        value = self.obj.get(key)
        if value is None:
            if required:
                raise self.missing(key)
            return None
        if not isinstance(value, str) or not _SERVICE_CODE.fullmatch(value):
            raise self.error(f"{self.name(key)} must be a service code of 1 to 3 capital letters, not {show(value)}")
        return value

    def group(self, key: str) -> str | None:
        """An optional priority group code (1 to 4 capital letters or digits); absent or null is None."""
        value = self.obj.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not GROUP_CODE.fullmatch(value):
            raise self.error(f"{self.name(key)} must be a priority group code of 1 to 4 capital letters or digits, "
                             f"not {show(value)}")
        return value

    def text(self, key: str, max_len: int | None = None, *, required: bool = False, blank: bool = True,
             what: str = "a string") -> str | None:
        """A string field; absent or null is None unless `required`."""
        value = self.obj.get(key)
        if value is None:
            if required:
                raise self.missing(key)
            return None
        too_long = max_len is not None and isinstance(value, str) and len(value) > max_len
        if not isinstance(value, str) or too_long or (not blank and not value.strip()):
            limit = f" of at most {max_len} characters" if max_len is not None else ""
            raise self.error(f"{self.name(key)} must be {what}{limit}, not {show(value)}")
        return value

    def moment(self, key: str) -> datetime | None:
        """An optional ISO-8601 time with offset; absent or null is None."""
        value = self.text(key, 64, what="an ISO-8601 time with offset")
        if value is None:
            return None
        try:
            return parse_moment(value)
        except ValueError:
            raise self.error(f"{self.name(key)} must be an ISO-8601 time with offset, not {show(value)}") from None

    def array(self, key: str, max_len: int) -> list[Any]:
        if key not in self.obj:
            raise self.missing(key)
        value = self.obj[key]
        if not isinstance(value, list) or len(value) > max_len:
            raise self.error(f"{self.name(key)} must be an array of at most {max_len} entries, not {show(value)}")
        return value

    def counts(self, key: str) -> dict[str, int]:
        if key not in self.obj:
            raise self.missing(key)
        value = self.obj[key]
        if not isinstance(value, dict):
            raise self.error(f"{self.name(key)} must be an object of service code: count, not {show(value)}")
        for code, count in value.items():
            if type(count) is not int or count < 0:
                field = self.name(f"{key}.{code}")
                raise self.error(f"{field} must be a whole number of 0 or more, not {show(count)}")
        return value
