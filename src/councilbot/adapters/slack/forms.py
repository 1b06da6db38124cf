"""Slack modals for commands with many arguments: the form, and reading it back.

`/council announce` with no arguments opens a modal with one input per argument of the
command's model (core.grammar.FormField): a multi-line box for free text, a menu for a
fixed choice, a checkbox for a yes/no option. Its submission runs the same command with
the fields as filled in, so the router validates them exactly as typed ones.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from councilbot.adapters.slack.render import to_mrkdwn
from councilbot.core.formatting import plain_text, truncate
from councilbot.core.grammar import FormField
from councilbot.core.i18n import N_, Translator
from councilbot.core.messages import FormRequest
from councilbot.core.router import Form

FORM_CALLBACK = "councilbot_form"
ACTION = "value"  # every input's action_id; its block_id is the argument's name
TITLE_LIMIT = 24  # characters of a modal's title
TEXT_LIMIT = 3000  # characters of a plain_text_input
ERROR_LIMIT = 150  # characters Slack shows under a field
PROBLEM = "problem"  # block_id of the reason a submission was refused
SEND = N_("Send")
CANCEL = N_("Cancel")


def form_view(form: Form, metadata: Mapping[str, str]) -> dict[str, Any]:
    """Build the empty modal for a command's form."""
    t = form.t
    summary = {"type": "context", "elements": [_mrkdwn(to_mrkdwn(t(form.spec.summary)))]}
    blocks = [summary, *(_input(field, t) for field in form.fields)]
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "private_metadata": json.dumps(dict(metadata)),
        "title": _plain(f"/{form.spec.name}"[:TITLE_LIMIT]),
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
    asked = {"fixed": request.fixed, "field": request.field, "prefix": request.prefix}
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "private_metadata": json.dumps({**metadata, "request": asked}),
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
        prefix=str(asked.get("prefix") or ""),
        fixed={str(k): str(v) for k, v in (asked.get("fixed") or {}).items()},
    )
    return request.fields(values.get(field, ""))


def refilled(view: Mapping[str, Any], values: Mapping[str, str], problem: str) -> dict[str, Any]:
    """Return a submitted modal again, as filled in, with the reason it was refused on top."""
    reason = {"type": "section", "block_id": PROBLEM, "text": _mrkdwn(f"⚠️ {to_mrkdwn(problem)}")}
    blocks = [
        _with_value(block, values.get(block.get("block_id", ""), ""))
        for block in view["blocks"]
        if block.get("block_id") != PROBLEM  # refused before: replace the old reason
    ]
    keys = ("type", "callback_id", "private_metadata", "title", "submit", "close")
    return {key: view[key] for key in keys if key in view} | {"blocks": [reason, *blocks]}


def _with_value(block: dict[str, Any], value: str) -> dict[str, Any]:
    """Return an input block showing `value` (other blocks as they are)."""
    if block["type"] != "input":
        return block
    element = {
        key: item
        for key, item in block["element"].items()
        if key not in ("initial_value", "initial_option", "initial_options")
    }
    if element["type"] == "checkboxes":
        if value:
            element["initial_options"] = element["options"]
    elif element["type"] == "static_select":
        chosen = [option for option in element["options"] if option["value"] == value]
        if chosen:
            element["initial_option"] = chosen[0]
    elif value:
        element["initial_value"] = value[:TEXT_LIMIT]
    return {**block, "element": element}


def form_values(state: Mapping[str, Any]) -> dict[str, str]:
    """Read what was filled in (view.state) as one text per argument."""
    values: dict[str, str] = {}
    for block_id, actions in (state.get("values") or {}).items():
        action = actions.get(ACTION) or {}
        kind = action.get("type")
        if kind == "plain_text_input":
            values[block_id] = action.get("value") or ""
        elif kind == "static_select":
            selected = action.get("selected_option") or {}
            values[block_id] = str(selected.get("value") or "")
        elif kind == "checkboxes":
            values[block_id] = "on" if action.get("selected_options") else ""
    return values


def field_error(view: Mapping[str, Any], field: str | None, reason: str) -> dict[str, str] | None:
    """Return Slack's `errors` for a reason about one input of the view, or None."""
    inputs = {block.get("block_id") for block in view.get("blocks", ()) if block["type"] == "input"}
    if field is None or field not in inputs:
        return None
    text = plain_text(reason).strip()
    return {field: truncate(text, ERROR_LIMIT)}


def _input(field: FormField, t: Translator) -> dict[str, Any]:
    label = plain_text(t(field.placeholder))
    element: dict[str, Any]
    if field.boolean:
        option = {"text": _plain(label), "value": "on"}
        element = {"type": "checkboxes", "action_id": ACTION, "options": [option]}
    elif field.choices:
        options = [{"text": _plain(choice), "value": choice} for choice in field.choices]
        element = {"type": "static_select", "action_id": ACTION, "options": options}
    else:
        element = {
            "type": "plain_text_input",
            "action_id": ACTION,
            "multiline": field.rest,
            "max_length": TEXT_LIMIT,
        }
    return {
        "type": "input",
        "block_id": field.name,
        "optional": not field.info.is_required(),
        "label": _plain(label),
        "element": element,
    }


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}
