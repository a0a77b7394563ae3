"""Validation of the configuration: each value converted to its field's type, then the
rules between values (ids, codes, hours, pins, labels), every problem collected with its key
path and a did-you-mean. Used by `queuebox.config.config_from_dict`; works on the dataclasses
of `queuebox.config` without importing them (that module imports this one).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import string
import typing
import unicodedata
from dataclasses import field
from datetime import time
from typing import TYPE_CHECKING, Any, Iterator, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from queuebox.protocol import MAX_LABEL  # the longest label a `call` command can name
from queuebox.protocol import MAX_RATING_REASON  # the longest reason a `rating` command can carry
from queuebox.protocol_fields import GROUP_CODE  # the code a `take` command names a priority group by

if TYPE_CHECKING:
    from queuebox.config import Config, CounterConfig, PriorityGroupConfig, ServiceConfig, SiteConfig
    from queuebox.config_devices import KeypadConfig


def config_key(help: str, default: Any = dataclasses.MISSING) -> Any:
    """A config key: its help text, and its default (none means required)."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

MIN_SLIDE_S = 4  # seconds: less and nobody reads a slide before it turns
MAX_MESSAGE = 200  # characters of a board message: the administration's limit, and all the board shows
MAX_GROUP_NAME = 60  # characters of a priority group's name: two lines on a 58 mm ticket
MAX_RATING_REASONS = 8  # reasons a rating tablet shows: big buttons on one screen


def parse_hours(span: str) -> tuple[time, time]:
    """'07:30-11:30' -> (time(7, 30), time(11, 30)); raises ValueError when malformed."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})", span.strip())
    if not match:
        raise ValueError(f"{span!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = map(int, match.groups())
    start, end = time(h1, m1), time(h2, m2)
    if start >= end:
        raise ValueError(f"{span!r} ends before it starts")
    return start, end


class _Invalid:
    """Stands for a value that failed conversion (already reported): checks skip it."""

    def __repr__(self) -> str:
        return "<invalid>"


INVALID: Any = _Invalid()


def _valid(obj: Any) -> bool:
    """Whether `obj` converted fully (a dataclass none of whose fields is INVALID)."""
    if obj is INVALID:
        return False
    return not dataclasses.is_dataclass(obj) or all(getattr(obj, f.name) is not INVALID
                                                    for f in dataclasses.fields(obj))


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def convert(tp: Any, value: Any, path: str, problems: list[str]) -> Any:
    """Check `value` against type `tp`, appending problems; returns the converted value."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append(f"{path or 'file'}: must be a table")
            return INVALID
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        for key in value:
            if key not in fields:
                problems.append(f"{join(path, key)}: unknown key{did_you_mean(key, fields)}")
        kwargs = {}
        for name, f in fields.items():
            if name in value:
                kwargs[name] = convert(hints[name], value[name], join(path, name), problems)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(f"{join(path, name)}: required key is missing")
                kwargs[name] = INVALID
        return tp(**kwargs)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            shown = ", ".join(repr(c) for c in choices)
            hint = did_you_mean(value, [c for c in choices if isinstance(c, str)]) if isinstance(value, str) else ""
            problems.append(f"{path}: must be one of {shown}, not {value!r}{hint}")
            return INVALID
        return value
    if origin is tuple:
        (item_type, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list):
            problems.append(f"{path}: must be a list")
            return INVALID
        return tuple(convert(item_type, item, f"{path}[{i}]", problems) for i, item in enumerate(value))
    if origin is dict:
        _key_type, item_type = typing.get_args(tp)
        if not isinstance(value, dict):
            problems.append(f"{path}: must be a table")
            return INVALID
        return {k: convert(item_type, v, join(path, k), problems) for k, v in value.items()}
    wanted = {int: "a whole number", bool: "true or false", str: "a string", float: "a number"}[tp]
    ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        problems.append(f"{path}: must be {wanted}, not {value!r}")
        return INVALID
    if tp is float and not math.isfinite(value):  # nan and inf pass every "more than 0" check
        problems.append(f"{path}: must be a finite number, not {value!r}")
        return INVALID
    return value


_SITE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_COUNTER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,15}")
_SERVICE_CODE = re.compile(r"[A-Z]{1,3}")


def check(config: Config) -> Iterator[str]:
    """The rules that span keys. Values that failed conversion were reported already and
    are skipped, so one bad value gives one problem."""
    if _valid(config.site):
        yield from _check_site(config.site)
    codes: set[str] = set()
    if config.services is not INVALID:
        for i, s in enumerate(config.services):
            if _valid(s):
                yield from _check_service(f"services[{i}]", s, codes)
            if s is not INVALID and isinstance(s.code, str):
                codes.add(s.code)
    if config.services is not INVALID:
        yield from _check_label_overlap([s for s in config.services if _valid(s)])
    if config.counters is not INVALID:
        if not config.counters and config.services:  # a device's config may have neither
            yield "counters: at least one counter is needed"
        ids: set[str] = set()
        for i, c in enumerate(config.counters):
            if _valid(c):
                yield from _check_counter(f"counters[{i}]", c, codes, ids)
    groups: list[str] = []
    if config.priority_groups is not INVALID:
        for i, g in enumerate(config.priority_groups):
            if _valid(g):
                yield from _check_group(f"priority_groups[{i}]", g, groups)
            if g is not INVALID and isinstance(g.code, str):
                groups.append(g.code)
    if _valid(config.queue):
        yield from _at_least("queue", config.queue, interleave_every=1, no_show_min_calls=1, no_show_rejoin_min=0,
                             rating_window_s=1)
        yield from _check_rating_reasons(config.queue.rating_reasons)
        elderly = config.queue.elderly_group
        if elderly and config.priority_groups is not INVALID and elderly not in groups:
            yield (f"queue.elderly_group: {elderly!r} is not a priority group{did_you_mean(elderly, groups)}; "
                   f"the groups are {', '.join(groups) or 'none'} (\"\" for none)")
        if not 50 <= config.queue.elderly_age <= 100:
            yield f"queue.elderly_age: must be 50 to 100, not {config.queue.elderly_age}"
    s = config.server
    if _valid(s):
        yield from _at_least("server", s, threads=4, connection_limit=100, request_timeout_s=1, live_streams=1,
                             streams_per_user=1, streams_per_address=1, login_attempts=1, lockout_min=1)
        if s.public_listen and not 0 < s.public_port < 65536:
            yield f"server.public_port: {s.public_port} is not a port number (1-65535)"
        elif s.public_listen and s.public_port == s.port:
            yield f"server.public_port: {s.public_port} is the staff listener's port (server.port); choose another"
        if s.address_attempts < s.login_attempts:
            yield f"server.address_attempts: must be login_attempts ({s.login_attempts}) or more"
        if s.account_attempts < s.login_attempts:
            yield f"server.account_attempts: must be login_attempts ({s.login_attempts}) or more"
        if not 1 <= s.session_hours <= 24 * 31:
            yield "server.session_hours: must be 1 to 744 (31 days)"
    for key, section in (("mqtt", config.mqtt), ("server", config.server)):
        port = getattr(section, "port", INVALID) if section is not INVALID else INVALID
        if port is not INVALID and not 0 < port < 65536:
            yield f"{key}.port: {port} is not a port number (1-65535)"
    if _valid(config.uplink):
        u = config.uplink
        yield from _at_least("uplink", u, batch_size=1, max_events_per_s=1, window=1, ack_timeout_s=1)
        if u.batch_size > 5000:
            yield "uplink.batch_size: at most 5000"
        if u.host and not 0 < u.port < 65536:
            yield f"uplink.port: {u.port} is not a port number (1-65535)"
        if not 0.01 <= u.poll_s <= 10:
            yield "uplink.poll_s: must be 0.01 to 10"
    if _valid(config.hub) and not 0 < config.hub.port < 65536:
        yield f"hub.port: {config.hub.port} is not a port number (1-65535)"
    if _valid(config.mqtt) and config.mqtt.keepalive_s < 5:
        yield "mqtt.keepalive_s: must be 5 or more"
    if _valid(config.mqtt):
        tls_files = {"broker_certfile": config.mqtt.broker_certfile, "broker_keyfile": config.mqtt.broker_keyfile}
        for key, other in (("broker_certfile", "broker_keyfile"), ("broker_keyfile", "broker_certfile")):
            if tls_files[other] and not tls_files[key]:
                yield f"mqtt.{key}: must be set with mqtt.{other} (a TLS listener); leave both empty for plain TCP"
            if "\n" in tls_files[key]:  # it goes into the broker's conf snippet as one line
                yield f"mqtt.{key}: must be a path on one line"
    k = config.kiosk
    if _valid(k):
        for code, pin in k.buttons.items():
            if code not in codes:
                yield f"kiosk.buttons.{code}: unknown service{did_you_mean(code, codes)}"
            if pin is not INVALID and not 0 < pin < 28:
                yield f"kiosk.buttons.{code}: {pin} is not a GPIO pin (1-27)"
        for code, pin in k.group_buttons.items():
            if config.priority_groups is not INVALID and code not in groups:
                yield (f"kiosk.group_buttons.{code}: unknown priority group{did_you_mean(code, groups)}; "
                       f"the groups are {', '.join(groups) or 'none'}")
            if pin is not INVALID and not 0 < pin < 28:
                yield f"kiosk.group_buttons.{code}: {pin} is not a GPIO pin (1-27)"
        pins = [p for p in [*k.buttons.values(), *k.group_buttons.values(), k.priority_button, k.led_ready,
                            k.led_busy, k.led_fault] if p is not INVALID and p]
        for pin in sorted({p for p in pins if pins.count(p) > 1}):
            yield f"kiosk: GPIO pin {pin} is used twice"
        for key in ("cooldown_s", "reply_timeout_s", "retry_every_s", "priority_window_s", "idle_timeout_s",
                    "scan_timeout_s"):
            if getattr(k, key) <= 0:
                yield f"kiosk.{key}: must be more than 0"
        for key in ("screen_width", "screen_height"):
            size = getattr(k, key)
            if size != 0 and not 320 <= size <= 7680:
                yield f"kiosk.{key}: must be 0 (the screen's) or 320 to 7680 pixels, not {size}"
    if _valid(config.keypad):
        yield from _check_keypad(config.keypad)
    d = config.display
    if _valid(d):
        if d.width < 0 or d.height < 0:
            yield "display.width/height: must be 0 (the screen's) or more"
        if not 0.0 <= d.volume <= 1.0:
            yield f"display.volume: {d.volume} must be between 0.0 and 1.0"
        if d.history < 0 or d.announce_repeat < 1 or d.highlight_s < 0:
            yield "display: history and highlight_s must be 0 or more, announce_repeat 1 or more"
        if not 0.0 <= d.announce_pause_s <= 10.0:
            yield f"display.announce_pause_s: {d.announce_pause_s} must be between 0 and 10 seconds"
        if d.server_url and not d.server_url.startswith(("http://", "https://")):
            yield f"display.server_url: {d.server_url!r} must begin with http:// or https://"
        if len(d.message) > MAX_MESSAGE:
            yield f"display.message: {len(d.message)} characters, at most {MAX_MESSAGE}"
        if not d.slides:
            yield 'display.slides: must name at least one slide (["history"] for the board without slides)'
        for kind in sorted({k for k in d.slides if d.slides.count(k) > 1}):
            yield f"display.slides: {kind!r} is listed twice"
        if d.slide_s < MIN_SLIDE_S:
            yield f"display.slide_s: must be {MIN_SLIDE_S} or more (time to read a slide)"
        if d.counter:
            problem = counter_problem(d.counter, config)
            if problem:
                yield f"display.counter: {problem}"
    if _valid(config.devices):
        for key in ("kiosks", "displays"):
            seen: set[str] = set()
            for i, device_id in enumerate(getattr(config.devices, key)):
                if device_id is INVALID:
                    continue
                if not _COUNTER_ID.fullmatch(device_id):
                    yield f"devices.{key}[{i}]: {device_id!r} must be 1-16 letters, digits, - or _"
                elif device_id in seen:
                    yield f"devices.{key}[{i}]: {device_id!r} is listed twice"
                seen.add(device_id)


def _at_least(section: str, values: Any, **least: float) -> Iterator[str]:
    """A problem for each key of `values` below its least value, in the order given."""
    for key, low in least.items():
        if getattr(values, key) < low:
            yield f"{section}.{key}: must be {low} or more"


def _check_rating_reasons(reasons: tuple[dict[str, str], ...]) -> Iterator[str]:
    if len(reasons) > MAX_RATING_REASONS:
        yield f"queue.rating_reasons: {len(reasons)} reasons, at most {MAX_RATING_REASONS}"
    seen: set[str] = set()
    for i, reason in enumerate(reasons):
        if reason is INVALID:
            continue
        p = f"queue.rating_reasons[{i}]"
        for key in reason:
            if key not in ("vi", "en"):
                yield f"{p}.{key}: unknown key{did_you_mean(key, ('vi', 'en'))}; a reason has vi and en"
        for key in ("vi", "en"):
            text = reason.get(key, "")
            if text is INVALID:
                continue
            if len(text) > MAX_RATING_REASON:
                yield f"{p}.{key}: {len(text)} characters, at most {MAX_RATING_REASON}"
            elif text.strip() and text != " ".join(text.split()):
                yield f"{p}.{key}: must be one line without leading, trailing or double spaces"
        vi = reason.get("vi", "")
        if vi is INVALID:
            continue
        if not vi.strip():
            yield f"{p}.vi: must not be empty"
        folded = unicodedata.normalize("NFC", vi).casefold()
        if folded and folded in seen:
            yield f"{p}.vi: {vi!r} is listed twice"
        seen.add(folded)
def counter_problem(counter: str, config: Config) -> str | None:
    """Why `counter` is not a counter of `config`, naming the known ones; None when it is. A
    config without counters (a device Pi's may leave them out) accepts any well-formed id."""
    if not isinstance(counter, str) or not _COUNTER_ID.fullmatch(counter):
        return f"{counter!r} must be 1-16 letters, digits, - or _"
    if config.counters is INVALID or not config.counters:
        return None
    known = [c.id for c in config.counters if _valid(c) and isinstance(c.id, str)]
    if counter in known:
        return None
    return f"unknown counter {counter!r}{did_you_mean(counter, known)}; the counters are {', '.join(known)}"


def _check_keypad(kp: KeypadConfig) -> Iterator[str]:
    if not _COUNTER_ID.fullmatch(kp.counter):
        yield f"keypad.counter: {kp.counter!r} must be 1-16 letters, digits, - or _"
    for key in ("rating_buttons", "rating_leds"):
        if len(getattr(kp, key)) not in (0, 4):
            yield f"keypad.{key}: must list 4 pins (scores 1 to 4) or none, not {len(getattr(kp, key))}"
    if kp.rating_leds and not kp.rating_buttons:
        yield "keypad.rating_leds: there are no rating_buttons to light"
    for i, pin in enumerate(kp.rating_buttons):
        if pin == 0:
            yield f"keypad.rating_buttons[{i}]: 0 is not a GPIO pin (every score needs its button)"
    pins = kp.pins()
    for name, pin in pins.items():
        if not 0 < pin < 28:
            yield f"keypad.{name}: {pin} is not a GPIO pin (1-27)"
    values = list(pins.values())
    for pin in sorted({p for p in values if values.count(p) > 1}):
        yield f"keypad: GPIO pin {pin} is used twice ({', '.join(n for n, p in pins.items() if p == pin)})"
    for key in ("blink_s", "cooldown_s", "reply_timeout_s", "retry_every_s"):
        if getattr(kp, key) <= 0:
            yield f"keypad.{key}: must be more than 0"


def _check_site(site: SiteConfig) -> Iterator[str]:
    if not _SITE_ID.fullmatch(site.id):
        yield f"site.id: {site.id!r} must be 1-32 lowercase letters, digits, - or _"
    try:
        ZoneInfo(site.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a region folder such as 'Asia'
        yield f"site.timezone: unknown time zone {site.timezone!r} (e.g. 'Asia/Ho_Chi_Minh')"
    for i, lang in enumerate(site.languages):
        if lang is not INVALID and lang not in ("vi", "en"):
            yield f"site.languages[{i}]: {lang!r} is not supported (vi, en){did_you_mean(lang, ('vi', 'en'))}"


def _check_service(p: str, s: ServiceConfig, seen: set[str]) -> Iterator[str]:
    if not _SERVICE_CODE.fullmatch(s.code):
        yield f"{p}.code: {s.code!r} must be 1 to 3 capital letters"
    if s.code in seen:
        yield f"{p}.code: {s.code!r} is used by another service"
    if not s.name_vi.strip():
        yield f"{p}.name_vi: must not be empty"
    if s.number_start < 0:
        yield f"{p}.number_start: must be 0 or more"
    if s.number_end <= s.number_start:
        yield f"{p}.number_end: must be greater than number_start ({s.number_start})"
    try:
        # a width like {number:1000000000}, or one taken from the number itself ({number:{number}}),
        # would build a gigabyte string: refuse both before formatting
        for _, name, spec, _ in string.Formatter().parse(s.label_format):
            if name is not None and name not in ("code", "number"):
                raise ValueError(f"{{{name}}} is not a field: use {{code}} and {{number}}")
            if "{" in (spec or ""):
                raise ValueError("a field inside a field's format")
            if re.search(r"[1-9]\d{2,}", spec or ""):
                raise ValueError("a width or precision over 99")
        label = s.label_format.format(code=s.code, number=s.number_end)
        if len(label) > MAX_LABEL:
            raise ValueError(f"{label!r} is longer than {MAX_LABEL} characters")
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        yield f"{p}.label_format: {s.label_format!r} does not format with {{code}} and {{number}}: {exc}"
    if s.daily_limit < 0:
        yield f"{p}.daily_limit: must be 0 (no limit) or more"
    for j, day in enumerate(s.open_days):
        if day is not INVALID and day not in WEEKDAYS:
            yield f"{p}.open_days[{j}]: {day!r} is not a day{did_you_mean(day, WEEKDAYS)}"
    for j, span in enumerate(s.hours):
        if span is INVALID:
            continue
        try:
            parse_hours(span)
        except ValueError as exc:
            yield f"{p}.hours[{j}]: {exc}"
    if s.target_wait_min <= 0:
        yield f"{p}.target_wait_min: must be more than 0"
    if s.service_min <= 0:
        yield f"{p}.service_min: must be more than 0"


def _check_group(p: str, g: PriorityGroupConfig, seen: list[str]) -> Iterator[str]:
    if not GROUP_CODE.fullmatch(g.code):
        yield f"{p}.code: {g.code!r} must be 1 to 4 capital letters or digits"
    elif g.code in seen:
        yield f"{p}.code: {g.code!r} is used by another priority group"
    for key in ("name_vi", "name_en"):
        text = getattr(g, key)
        if key == "name_vi" and not text.strip():
            yield f"{p}.name_vi: must not be empty"
        elif len(text) > MAX_GROUP_NAME:
            yield f"{p}.{key}: {len(text)} characters, at most {MAX_GROUP_NAME} (it is printed on the ticket)"


def _check_label_overlap(services: list[ServiceConfig]) -> Iterator[str]:
    """Labels without {code} must not repeat across services (the same label, two tickets)."""
    plain = [s for s in services if "{code" not in s.label_format]
    for i, a in enumerate(plain):
        for b in plain[i + 1:]:
            if a.label_format == b.label_format and a.number_start <= b.number_end and b.number_start <= a.number_end:
                yield (f"services: {a.code} and {b.code} print the same labels ({a.label(1)} …): "
                       "put {code} in label_format or give them number ranges that do not overlap")


def _check_counter(p: str, c: CounterConfig, codes: set[str], ids: set[str]) -> Iterator[str]:
    if not _COUNTER_ID.fullmatch(c.id):
        yield f"{p}.id: {c.id!r} must be 1-16 letters, digits, - or _"
    if c.id in ids:
        yield f"{p}.id: {c.id!r} is used by another counter"
    ids.add(c.id)
    if not c.services:
        yield f"{p}.services: a counter must serve at least one service"
    for code, weight in c.services.items():
        if code not in codes:
            yield f"{p}.services.{code}: unknown service{did_you_mean(code, codes)}"
        if weight is not INVALID and weight < 1:
            yield f"{p}.services.{code}: weight must be 1 or more"
