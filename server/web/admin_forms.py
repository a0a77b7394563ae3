"""The administration's forms: read what a manager typed, check each field, and turn the
engine's configuration problems back into messages next to the fields they concern.

Each `read_*` function takes the submitted form and returns `(values, errors)`: `values`
in the shape `engine.reconfigure` wants (a service or counter dict as in the TOML tables,
the `queue` section, the board message) and `errors` mapping a form field to a translated
message. The field checks catch what a person mistypes; the engine then checks what spans
fields and sections (number ranges, duplicate codes, services still in use) with the same
code as the config file, and `problem_errors` places its findings.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Mapping

from queuebox.config import WEEKDAYS, parse_hours
from queuebox.config_check import MAX_MESSAGE
from queuebox.config_check import MAX_RATING_REASONS
from queuebox.protocol import MAX_RATING_REASON
from server.web.i18n import N_, _

Errors = dict[str, str]
Form = Mapping[str, Any]  # request.form (a MultiDict: .get, .getlist)

MAX_NUMBER = 999_999
MAX_NAME = 80
MAX_COUNTER_NAME = 40  # shown on the board and counter displays, spoken in calls
MAX_LABEL_FORMAT = 40
# The longest text each form field takes: checked on the server, and the pages' maxlength.
MAX_LENGTH = {"code": 3, "name_vi": MAX_NAME, "name_en": MAX_NAME, "label_format": MAX_LABEL_FORMAT,
              "id": 16, "name": MAX_COUNTER_NAME, "message": MAX_MESSAGE}
OVERRIDES = ("hours", "open", "closed")
WEEKDAY_NAMES = {"mon": N_("Monday"), "tue": N_("Tuesday"), "wed": N_("Wednesday"), "thu": N_("Thursday"),
                 "fri": N_("Friday"), "sat": N_("Saturday"), "sun": N_("Sunday")}
WEEKDAY_SHORT = {"mon": N_("Mon"), "tue": N_("Tue"), "wed": N_("Wed"), "thu": N_("Thu"), "fri": N_("Fri"),
                 "sat": N_("Sat"), "sun": N_("Sun")}
_CODE = re.compile(r"[A-Z]{1,3}")
_COUNTER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,15}")
_HOURS_SPLIT = re.compile(r"[,;\s]+")


# --- fields ---------------------------------------------------------------------------------

def _text(form: Form, name: str, errors: Errors, *, required: bool = True, max_len: int = MAX_NAME) -> str:
    value = " ".join(str(form.get(name, "")).split())  # one line, no stray spaces
    if required and not value:
        errors[name] = _("Required")
    elif len(value) > max_len:
        errors[name] = _("At most %(max)s characters", max=max_len)
    return value


def _number(form: Form, name: str, errors: Errors, *, least: int = 0) -> int:
    """A whole number ≥ `least` (0 or 1); 0 is returned for a field in error."""
    text = str(form.get(name, "")).strip()
    if not text.isdigit() or not text.isascii():
        errors[name] = _("Must be a positive whole number") if least else _("Must be a whole number, 0 or more")
        return 0
    value = int(text)
    if value < least:
        errors[name] = _("Must be a positive whole number")
    elif value > MAX_NUMBER:
        errors[name] = _("At most %(max)s", max=MAX_NUMBER)
    return value


def _choice(form: Form, name: str, choices: tuple[str, ...], errors: Errors) -> str:
    value = str(form.get(name, ""))
    if value not in choices:
        errors[name] = _("Choose one of the options")
        return choices[0]
    return value


def parse_hours_field(text: str) -> tuple[list[str], str | None]:
    """'07:30-11:30, 13:30-17:00' -> (['07:30-11:30', '13:30-17:00'], None), or a problem."""
    spans = [s for s in _HOURS_SPLIT.split(text.strip()) if s]
    for span in spans:
        try:
            parse_hours(span)
        except ValueError:
            return spans, _("Opening hours must look like HH:MM-HH:MM, e.g. 07:30-11:30, 13:30-17:00")
    return [f"{start:%H:%M}-{end:%H:%M}" for start, end in map(parse_hours, spans)], None


# --- services ---------------------------------------------------------------------------------

def read_service(form: Form, code: str | None = None) -> tuple[dict[str, Any], Errors]:
    """A service from its form; `code` is the existing service's (the code cannot change), None for a new one."""
    errors: Errors = {}
    if code is None:
        code = str(form.get("code", "")).strip().upper()
        if not _CODE.fullmatch(code):
            errors["code"] = _("1 to 3 capital letters, e.g. A or HT")
    hours, problem = parse_hours_field(str(form.get("hours", "")))
    if problem:
        errors["hours"] = problem
    days = [d for d in WEEKDAYS if d in form.getlist("open_days")]  # type: ignore[attr-defined]
    if not days:
        errors["open_days"] = _("Choose at least one day")
    service = {
        "code": code,
        "name_vi": _text(form, "name_vi", errors),
        "name_en": _text(form, "name_en", errors, required=False),
        "number_start": _number(form, "number_start", errors),
        "number_end": _number(form, "number_end", errors, least=1),
        "label_format": _text(form, "label_format", errors, max_len=MAX_LABEL_FORMAT),
        "daily_limit": _number(form, "daily_limit", errors),
        "open_days": days,
        "hours": hours,
        "target_wait_min": _number(form, "target_wait_min", errors, least=1),
        "service_min": _number(form, "service_min", errors, least=1),
        "override": _choice(form, "override", OVERRIDES, errors),
    }
    if "number_start" not in errors and "number_end" not in errors and service["number_end"] <= service["number_start"]:
        errors["number_end"] = _("Must be greater than the first number (%(n)s)", n=service["number_start"])
    return service, errors


def service_fields(service: Mapping[str, Any]) -> dict[str, Any]:
    """A service dict as its form shows it."""
    return {**service, "hours": ", ".join(service.get("hours", ())), "open_days": list(service.get("open_days", ()))}


def new_service_fields() -> dict[str, Any]:
    """The form of a new service: the config file's defaults."""
    return {"code": "", "name_vi": "", "name_en": "", "number_start": 1, "number_end": 999,
            "label_format": "{code}{number:03d}", "daily_limit": 0, "open_days": list(WEEKDAYS[:5]),
            "hours": "07:30-11:30, 13:30-17:00", "target_wait_min": 15, "service_min": 10, "override": "hours"}


def submitted_fields(form: Form) -> dict[str, Any]:
    """What was typed, to show the form again as it was sent."""
    fields: dict[str, Any] = {key: form.get(key, "") for key in form}
    fields["open_days"] = form.getlist("open_days")  # type: ignore[attr-defined]
    return fields


# --- counters ---------------------------------------------------------------------------------

def read_counter(form: Form, service_codes: list[str], counter_id: str | None = None) -> tuple[dict[str, Any], Errors]:
    """A counter from its form: a weight per service (empty or 0: not served); `counter_id` None for a new one."""
    errors: Errors = {}
    if counter_id is None:
        counter_id = str(form.get("id", "")).strip()
        if not _COUNTER_ID.fullmatch(counter_id):
            errors["id"] = _("1 to 16 letters, digits, - or _, e.g. 4 or Q4")
    weights: dict[str, int] = {}
    for code in service_codes:
        field = f"weight_{code}"
        if not str(form.get(field, "")).strip():
            continue
        weight = _number(form, field, errors)
        if weight > 99:
            errors[field] = _("At most %(max)s", max=99)
        if weight and field not in errors:
            weights[code] = weight
    if not weights and not any(key.startswith("weight_") for key in errors):
        errors["services"] = _("A counter must serve at least one service")
    return {"id": counter_id, "name": _text(form, "name", errors, max_len=MAX_COUNTER_NAME), "services": weights}, errors


def counter_fields(counter: Mapping[str, Any]) -> dict[str, Any]:
    fields = {"id": counter["id"], "name": counter["name"]}
    fields.update((f"weight_{code}", weight) for code, weight in counter["services"].items())
    return fields


# --- queue policy and board message ---------------------------------------------------------

def read_queue(form: Form) -> tuple[dict[str, Any], Errors]:
    errors: Errors = {}
    queue = {
        "priority": _choice(form, "priority", ("interleave", "strict"), errors),
        "interleave_every": _number(form, "interleave_every", errors, least=1),
        # a code of the configured groups, or "" for none: checked with the whole config on saving
        "elderly_group": _text(form, "elderly_group", errors, required=False, max_len=4),
        "elderly_age": _number(form, "elderly_age", errors, least=1),
        "transfer_position": _choice(form, "transfer_position", ("keep", "first"), errors),
        "no_show_min_calls": _number(form, "no_show_min_calls", errors, least=1),
        "no_show_rejoin_min": _number(form, "no_show_rejoin_min", errors),
        "rating_window_s": _number(form, "rating_window_s", errors, least=1),
        "rating_reasons": _reasons(form, errors),
    }
    return queue, errors


def _reasons(form: Form, errors: Errors) -> list[dict[str, str]]:
    """The reason rows filled in, in order; a row with only an English text lacks its Vietnamese one."""
    reasons = []
    for i in range(MAX_RATING_REASONS):
        vi = _text(form, f"reason_vi_{i}", errors, required=False, max_len=MAX_RATING_REASON)
        en = _text(form, f"reason_en_{i}", errors, required=False, max_len=MAX_RATING_REASON)
        if en and not vi:
            errors[f"reason_vi_{i}"] = _("Required")
        if vi:
            reasons.append({"vi": unicodedata.normalize("NFC", vi), "en": en})
    return reasons


def queue_fields(queue: Mapping[str, Any]) -> dict[str, Any]:
    """The `queue` section as its form's fields: the reasons as one vi and one en field per row."""
    fields = {key: value for key, value in queue.items() if key != "rating_reasons"}
    for i, reason in enumerate(queue.get("rating_reasons", [])):
        fields[f"reason_vi_{i}"], fields[f"reason_en_{i}"] = reason.get("vi", ""), reason.get("en", "")
    return fields


def read_message(form: Form) -> tuple[str, Errors]:
    errors: Errors = {}
    return _text(form, "message", errors, required=False, max_len=MAX_MESSAGE), errors


# --- the engine's problems -----------------------------------------------------------------

_PROBLEM = re.compile(r"(?P<section>services|counters|queue)(?:\[(?P<index>\d+)\])?(?:\.(?P<key>[^:\s]+))?"
                      r": (?P<text>.*)", re.DOTALL)
# The engine's (English) findings a manager meets, in their words; others are shown as they are.
_KNOWN = [
    (r"must be greater than number_start \((?P<n>-?\d+)\)", N_("Must be greater than the first number (%(n)s)")),
    (r"must be 1 to 3 capital letters", N_("1 to 3 capital letters, e.g. A or HT")),
    (r"is used by another service", N_("Another service already uses this code")),
    (r"is used by another counter", N_("Another counter already uses this id")),
    (r"must be 1-16 letters, digits, - or _", N_("1 to 16 letters, digits, - or _, e.g. 4 or Q4")),
    (r"must not be empty", N_("Required")),
    (r"does not format with", N_("Not a valid label format: use {code} and {number}, e.g. {code}{number:03d}")),
    (r"is not HH:MM-HH:MM|ends before it starts",
     N_("Opening hours must look like HH:MM-HH:MM, e.g. 07:30-11:30, 13:30-17:00")),
    (r"must be 0 \(no limit\) or more|must be 0 or more", N_("Must be a whole number, 0 or more")),
    (r"must be more than 0|must be 1 or more", N_("Must be a positive whole number")),
    (r"a counter must serve at least one service", N_("A counter must serve at least one service")),
    (r"unknown service", N_("Unknown service")),
    (r"^(?P<code>\S+) still has ticket (?P<label>\S+) in its queue",
     N_("Service %(code)s still has ticket %(label)s in its queue: serve or transfer it first.")),
    (r"^(?P<id>\S+) is holding a ticket", N_("Counter %(id)s is holding a ticket: finish it first.")),
    (r"^(?P<a>\S+) and (?P<b>\S+) print the same labels",
     N_("Services %(a)s and %(b)s would print the same labels: put {code} in the label format "
        "or give them number ranges that do not overlap.")),
    (r"at least one counter is needed", N_("At least one counter is needed.")),
]
# Where a service's or counter's key path points in its form.
_FIELD = {"hours": "hours", "open_days": "open_days"}


def translate_problem(text: str) -> str:
    """One of the engine's findings (without its key path) in the request's language."""
    for pattern, message in _KNOWN:
        match = re.search(pattern, text)
        if match:
            return _(message, **match.groupdict()) if match.groupdict() else _(message)
    return text


def problem_errors(problems: list[str], section: str, index: int | None,
                   names: Mapping[str, list[str]] | None = None) -> tuple[Errors, list[str]]:
    """The engine's problems as (errors next to the fields of item `index` of `section`, the rest).

    `index` is the position of the edited service or counter in the list sent to the engine
    (None for the `queue` section); `names` gives each section's items a name for the problems
    that concern another item (e.g. ``{"counters": ["Quầy 1", …]}``)."""
    errors: Errors = {}
    general: list[str] = []
    for problem in problems:
        match = _PROBLEM.fullmatch(problem)
        if match is None:  # another section of the config (e.g. the kiosk's buttons): keep its key path
            path, _sep, text = problem.partition(": ")
            general.append(f"{path}: {translate_problem(text)}" if text else translate_problem(problem))
            continue
        text = translate_problem(match["text"])
        at = int(match["index"]) if match["index"] is not None else None
        key = (match["key"] or "").split("[")[0]
        if match["section"] == section and key and at == index:
            if section == "counters" and key.startswith("services."):
                field = "weight_" + key.split(".", 1)[1]
            else:
                field = _FIELD.get(key, key.split(".")[0])
            errors.setdefault(field, text)
        elif at is not None:
            items = (names or {}).get(match["section"], [])
            name = items[at] if at < len(items) else f"{match['section']}[{at + 1}]"
            detail = f" ({key.split('.', 1)[1]})" if key.startswith("services.") else ""
            general.append(f"{name}{detail}: {text}")
        else:
            general.append(text)
    return errors, general
