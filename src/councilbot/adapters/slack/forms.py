"""Slack modals for commands with many arguments: the form, and reading it back.

`/council announce` with no arguments opens a modal with inputs for the arguments of the
command's model (core.grammar.FormField), each suited to the argument's type: a multi-line
box for free text (and for a list, one item per line), a menu for a fixed choice, a checkbox for a yes/no option, a date picker
for a date, a time picker for a time of day, a date picker and a time picker for a moment
(read in the council's zone, as a typed time is), a number input for a whole number and a
multi-select of the councils for a list of councils, and a menu of what a feature lists
for a field marked Picked (the facilities of /council book). Its submission runs the same command
with each field as the text one would type (`2026-12-03 09:00`, `cork,malaga`, `12`), so
the router validates them exactly as typed ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from councilbot.adapters.slack.render import to_mrkdwn
from councilbot.core.formatting import plain_text, truncate
from councilbot.core.grammar import FormField
from councilbot.core.i18n import N_
from councilbot.core.messages import FormRequest
from councilbot.core.router import Form

FORM_CALLBACK = "councilbot_form"
ACTION = "value"  # every input's action_id; its block_id is the argument's name
TITLE_LIMIT = 24  # characters of a modal's title
TEXT_LIMIT = 3000  # characters of a plain_text_input
ERROR_LIMIT = 150  # characters Slack shows under a field
PROBLEM = "problem"  # block_id of the reason a submission was refused
OPTION_LIMIT = 100  # options of a select menu; more councils than that are typed instead
OPTION_TEXT_LIMIT = 75  # characters of an option's text
TIME_PART = "__time"  # block_id suffix of the time picker beside a moment's date picker
SEND = N_("Send")
CANCEL = N_("Cancel")
DAY_LABEL = N_("{name}: day")
TIME_LABEL = N_("{name}: time ({zone})")


def form_view(form: Form, metadata: Mapping[str, str]) -> dict[str, Any]:
    """Build the empty modal for a command's form."""
    t = form.t
    summary = {"type": "context", "elements": [_mrkdwn(to_mrkdwn(t(form.summary)))]}
    blocks = [summary, *(block for field in form.fields for block in _inputs(field, form))]
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "private_metadata": json.dumps(dict(metadata)),
        "title": _plain(form.title[:TITLE_LIMIT]),
        "submit": _plain(plain_text(t(SEND))),
        "close": _plain(plain_text(t(CANCEL))),
        "blocks": blocks,
    }


def request_view(request: FormRequest, metadata: Mapping[str, str]) -> dict[str, Any]:
    """Build the modal a reply asks for: one box, filled in, for the rest of a command."""
    box = {
        "type": "input",
        "block_id": request.field,
        "optional": False,
        "label": _plain(request.label),
        "element": {
            "type": "plain_text_input",
            "action_id": ACTION,
            "multiline": True,
            "max_length": TEXT_LIMIT,
            **({"initial_value": request.value[:TEXT_LIMIT]} if request.value else {}),
        },
    }
    # Read back by request_fields: what the submission runs.
    asked = {"fixed": request.fixed, "field": request.field}
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "private_metadata": json.dumps({**metadata, "args": request.args, "request": asked}),
        "title": _plain(request.title[:TITLE_LIMIT]),
        "submit": _plain(request.submit),
        "close": _plain(request.close),
        "blocks": [box],
    }


def request_fields(metadata: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, str]:
    """Return the command's fields for a submitted request_view (else the values as filled)."""
    asked = metadata.get("request")
    if not isinstance(asked, dict):
        return dict(values)
    field = str(asked["field"])
    request = FormRequest(
        command=str(metadata["command"]),
        field=field,
        label="",
        title="",
        submit="",
        close="",
        fixed={str(k): str(v) for k, v in (asked.get("fixed") or {}).items()},
    )
    return request.fields(values.get(field, ""))


def refilled(view: Mapping[str, Any], problem: str) -> dict[str, Any]:
    """Return a submitted modal again, as filled in, with the reason it was refused on top."""
    reason = {"type": "section", "block_id": PROBLEM, "text": _mrkdwn(f"⚠️ {to_mrkdwn(problem)}")}
    filled = _block_values(view.get("state") or {})
    blocks = [
        _with_value(block, filled.get(block.get("block_id", "")))
        for block in view["blocks"]
        if block.get("block_id") != PROBLEM  # refused before: replace the old reason
    ]
    keys = ("type", "callback_id", "private_metadata", "title", "submit", "close")
    return {key: view[key] for key in keys if key in view} | {"blocks": [reason, *blocks]}


_INITIAL = ("initial_value", "initial_option", "initial_options", "initial_date", "initial_time")


def _with_value(block: dict[str, Any], value: str | list[str] | None) -> dict[str, Any]:
    """Return an input block showing what was filled in (other blocks as they are)."""
    if block["type"] != "input":
        return block
    element = {key: item for key, item in block["element"].items() if key not in _INITIAL}
    kind = element["type"]
    if not value:
        pass
    elif kind in ("checkboxes", "multi_static_select"):
        chosen = [option for option in element["options"] if option["value"] in value]
        if chosen:
            element["initial_options"] = chosen
    elif kind == "static_select":
        chosen = [option for option in element["options"] if option["value"] == value]
        if chosen:
            element["initial_option"] = chosen[0]
    elif kind == "datepicker":
        element["initial_date"] = value
    elif kind == "timepicker":
        element["initial_time"] = value
    else:
        element["initial_value"] = str(value)[:TEXT_LIMIT]
    return {**block, "element": element}


def _block_values(state: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """Read what each input holds: a text, or the values of the options chosen."""
    values: dict[str, str | list[str]] = {}
    for block_id, actions in (state.get("values") or {}).items():
        action = actions.get(ACTION) or {}
        kind = action.get("type")
        if kind in ("plain_text_input", "number_input"):
            values[block_id] = action.get("value") or ""
        elif kind == "static_select":
            selected = action.get("selected_option") or {}
            values[block_id] = str(selected.get("value") or "")
        elif kind in ("checkboxes", "multi_static_select"):
            chosen = action.get("selected_options") or ()
            values[block_id] = [str(option.get("value") or "") for option in chosen]
        elif kind == "datepicker":
            values[block_id] = action.get("selected_date") or ""
        elif kind == "timepicker":
            values[block_id] = action.get("selected_time") or ""
        elif kind == "datetimepicker" and action.get("selected_date_time") is not None:
            # A UNIX time: written with its offset, it reads as the same moment in any zone.
            moment = datetime.fromtimestamp(int(action["selected_date_time"]), UTC)
            values[block_id] = moment.isoformat(timespec="minutes")
    return values


def form_values(state: Mapping[str, Any]) -> dict[str, str]:
    """Read what was filled in (view.state) as one text per argument, as it would be typed."""
    filled = _block_values(state)
    values: dict[str, str] = {}
    for block_id, value in filled.items():
        if block_id.endswith(TIME_PART):
            continue
        if isinstance(value, list):
            # A checkbox is ticked or not; a multi-select's items read as a typed list.
            if _is_checkbox(state, block_id):
                values[block_id] = "on" if value else ""
            else:
                values[block_id] = ",".join(value)
        else:
            values[block_id] = value
    for block_id, value in filled.items():
        if block_id.endswith(TIME_PART):  # a moment: its day, then its time
            name = block_id.removesuffix(TIME_PART)
            values[name] = f"{values.get(name, '')} {value}".strip()
    return values


def _is_checkbox(state: Mapping[str, Any], block_id: str) -> bool:
    action = (state.get("values") or {}).get(block_id, {}).get(ACTION) or {}
    return action.get("type") == "checkboxes"


def field_error(view: Mapping[str, Any], field: str | None, reason: str) -> dict[str, str] | None:
    """Return Slack's `errors` for a reason about one input of the view, or None."""
    inputs = {block.get("block_id") for block in view.get("blocks", ()) if block["type"] == "input"}
    if field is None or field not in inputs:
        return None
    text = plain_text(reason).strip()
    return {field: truncate(text, ERROR_LIMIT)}


def _inputs(field: FormField, form: Form) -> list[dict[str, Any]]:
    """Return the input blocks that ask for one argument (a moment takes two: day and time)."""
    t = form.t
    label = plain_text(t(field.placeholder))
    optional = not field.info.is_required()
    if field.kind == "when":
        zone = str(form.tz)
        day = plain_text(t(DAY_LABEL, name=label))
        time_label = plain_text(t(TIME_LABEL, name=label, zone=zone))
        # The time is always optional in the modal: a day alone is refused with the reason.
        timepicker = {"type": "timepicker", "action_id": ACTION, "timezone": zone}
        return [
            _block(field.name, day, optional, {"type": "datepicker", "action_id": ACTION}),
            _block(field.name + TIME_PART, time_label, True, timepicker),
        ]
    return [_block(field.name, label, optional, _element(field, form, label))]


def _element(field: FormField, form: Form, label: str) -> dict[str, Any]:
    """Return the input element suited to an argument's type."""
    options = form.options.get(field.name, ())
    if field.kind == "flag":
        option = {"text": _plain(label), "value": "on"}
        return {"type": "checkboxes", "action_id": ACTION, "options": [option]}
    if field.kind == "choice":
        choices = [{"text": _plain(choice), "value": choice} for choice in field.choices]
        return {"type": "static_select", "action_id": ACTION, "options": choices}
    if field.kind in ("councils", "picked") and 0 < len(options) <= OPTION_LIMIT:
        menu = [
            {"text": _plain(truncate(name, OPTION_TEXT_LIMIT)), "value": value}
            for value, name in options
        ]
        kind = "multi_static_select" if field.comma_list or field.many else "static_select"
        return {"type": kind, "action_id": ACTION, "options": menu}
    if field.kind == "date":
        return {"type": "datepicker", "action_id": ACTION}
    if field.kind == "time":
        return {"type": "timepicker", "action_id": ACTION, "timezone": str(form.tz)}
    if field.kind == "number":
        number: dict[str, Any] = {
            "type": "number_input",
            "action_id": ACTION,
            "is_decimal_allowed": False,
        }
        if field.minimum is not None:
            number["min_value"] = str(field.minimum)
        if field.maximum is not None:
            number["max_value"] = str(field.maximum)
        return number
    return {
        "type": "plain_text_input",
        "action_id": ACTION,
        "multiline": field.rest or field.many,  # a list: one item per line
        "max_length": TEXT_LIMIT,
    }


def _block(block_id: str, label: str, optional: bool, element: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": _plain(label),
        "element": element,
    }


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}
