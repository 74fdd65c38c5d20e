"""Messages kept as data — a msgid and its values — so that every reader sees them in their own language.

An order's timeline is written by workers (in English) and by staff (in theirs), and read by staff who may work in
another: a sentence stored as text would stay in the language of whoever wrote it. An event stores its sentence
as `text(...)` in its data instead (and its English rendering in `message`, for logs and searches), and the
timeline renders it with gettext in the reader's language. The msgids are marked with gettext_noop where they are
written, so makemessages finds them.

A value is shown as it is (a number, a name, a reason from another system), or is itself translated when it is a
`status(slug)`, a `push_kind(kind)` or another `text(...)`.
"""

from django.utils.translation import gettext, ngettext, override

from fulfillment.choices import PushKind, ReservationStatus, status_label


def text(msgid, **params):
    return {"msgid": msgid, "params": params}


def plural_text(singular, plural, count, **params):
    """A sentence whose wording depends on a number (`count`, also given to it as %(count)s)."""
    return {"msgid": singular, "plural": plural, "params": {**params, "count": count}}


def status(slug):
    return {"status": slug}


def push_kind(kind):
    return {"push_kind": kind}


def reservation_status(value):
    return {"reservation_status": value}


def render(spec):
    """`spec` in the active language; a plain string is returned as it is."""
    if not isinstance(spec, dict):
        return "" if spec is None else str(spec)
    if "status" in spec:
        return str(status_label(spec["status"] or ""))
    if "push_kind" in spec:
        try:
            return str(PushKind(spec["push_kind"]).label)
        except ValueError:
            return str(spec["push_kind"])
    if "reservation_status" in spec:
        try:
            return str(ReservationStatus(spec["reservation_status"]).label)
        except ValueError:
            return str(spec["reservation_status"])
    msgid = spec.get("msgid")
    if not isinstance(msgid, str):
        return ""
    params = {name: render(value) if isinstance(value, dict) else value
              for name, value in (spec.get("params") or {}).items()}
    plural = spec.get("plural")
    english_text = (msgid if not plural or params.get("count") == 1 else plural)
    try:
        translated = ngettext(msgid, plural, int(params.get("count") or 0)) if plural else gettext(msgid)
        return translated % params if params else translated
    except (KeyError, TypeError, ValueError):  # a translation that lost a placeholder: the English one
        try:
            return english_text % params if params else english_text
        except (KeyError, TypeError, ValueError):  # values missing (an older event): the sentence as it is
            return english_text


def english(spec):
    with override("en"):
        return render(spec)
