"""Bulk inserts and upserts whose cost is PostgreSQL's, not Python's.

Django's `bulk_create` on PostgreSQL sends one array per column (`UNNEST`); psycopg writes those array literals in
Python, backslash-escaping every quote of every JSON document with a regex, and Django prepares each of the
~45 values of each row one by one. For an order with its raw JSON that is about half a millisecond of our CPU
per order, the largest cost of an import. Here the whole batch travels as *one* JSON document, serialised by
the json module in C, and PostgreSQL unpacks it with `jsonb_to_recordset`.

Rows are plain dicts keyed by attribute name (`store_id`, not `store`); columns a row does not give take the
field's default, `auto_now`/`auto_now_add` fields take the time of the call. Values are what the ORM would be
given: str, int, bool, Decimal, aware datetime, date, dict/list for JSONField, None, or `Encoded` for a JSONField
value whose JSON text the caller already has. Other databases go through the ORM (`bulk_create`), so callers need
not care which database they run on.
"""

import json
import re
from datetime import date, datetime
from decimal import Decimal

from django.db import DataError, connection, models
from django.utils import timezone


# A NUL character, as json.dumps escapes it (and not an escaped backslash followed by "u0000").
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class Encoded:
    """A JSONField value together with its JSON text, so that a batch does not serialise it a second time.

    The order mirror hashes each order's JSON to tell a changed order from an unchanged one; the text it hashed is
    the text written, which saves encoding every raw document twice on an import.
    """
    __slots__ = ("value", "text")

    def __init__(self, value, text):
        self.value, self.text = value, text


# Asked in `returning`: whether the row was inserted (True) or an existing row was updated (False).
INSERTED = "(inserted)"


def _json_default(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be written by bulk.upsert")


def _columns(model):
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _defaults(fields, now):
    values = {}
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            values[f.attname] = now
        else:
            values[f.attname] = f.get_default()  # as the ORM: the default, else "" for text, else None
    return values


def _document(rows):
    """The rows as one JSON array; `Encoded` values are spliced in as the JSON text they carry."""
    dumps = json.JSONEncoder(default=_json_default, ensure_ascii=False, separators=(",", ":")).encode
    encoded = [name for name, value in rows[0].items() if isinstance(value, Encoded)]
    if not encoded:
        return dumps(rows)
    parts = []
    for row in rows:
        plain = {name: value for name, value in row.items() if name not in encoded}
        tail = "".join(f',"{name}":{row[name].text}' for name in encoded)
        parts.append(dumps(plain)[:-1] + tail + "}" if plain else "{" + tail[1:] + "}")
    return "[" + ",".join(parts) + "]"


def upsert(model, rows, *, unique_fields=(), update_fields=(), returning=(), update_unless_newer=None):
    """Insert `rows` (dicts) into `model`'s table; on a conflict on `unique_fields` update `update_fields`.

    Returns the `returning` attributes of every row written, as tuples (in no guaranteed order), or [] when
    nothing is asked back; `INSERTED` among them tells an inserted row from an updated one. Without
    `unique_fields` it is a plain insert. With `update_unless_newer` (a field name), a conflicting row whose
    stored value of that field is newer than the row's is left as it is and not returned: a version read earlier
    cannot overwrite one another transaction wrote meanwhile.
    """
    if not rows:
        return []
    fields = _columns(model)
    now = timezone.now()
    defaults = _defaults(fields, now)
    by_name = {f.name: f for f in model._meta.concrete_fields}
    # auto_now fields are written on every update too, as Model.save() would.
    touched = [*update_fields, *(f.name for f in fields if getattr(f, "auto_now", False) and f.name not in update_fields)]
    if connection.vendor != "postgresql":
        existed = set()
        if unique_fields and (update_unless_newer or INSERTED in returning):
            rows, existed = _stored(model, rows, unique_fields, update_unless_newer)
        return _orm_upsert(model, rows, defaults, unique_fields, touched if unique_fields else (), returning,
                           existed)

    complete = [{**defaults, **row} for row in rows]
    quote = connection.ops.quote_name
    names = ", ".join(quote(f.column) for f in fields)
    record = ", ".join(f"{quote(f.attname)} {f.db_type(connection)}" for f in fields)
    selected = ", ".join(quote(f.attname) for f in fields)
    sql = [f"INSERT INTO {quote(model._meta.db_table)} ({names}) "
           f"SELECT {selected} FROM json_to_recordset(%s::json) AS r({record})"]
    if unique_fields:
        conflict = ", ".join(quote(by_name[name].column) for name in unique_fields)
        if touched:
            sets = ", ".join(f"{quote(by_name[n].column)} = EXCLUDED.{quote(by_name[n].column)}" for n in touched)
            sql.append(f" ON CONFLICT ({conflict}) DO UPDATE SET {sets}")
            if update_unless_newer:
                column = quote(by_name[update_unless_newer].column)
                sql.append(f" WHERE {quote(model._meta.db_table)}.{column} <= EXCLUDED.{column}")
        else:
            sql.append(f" ON CONFLICT ({conflict}) DO NOTHING")
    if returning:
        pk = model._meta.pk
        # xmax is 0 on a row version no transaction has replaced: one this statement inserted, not updated.
        columns = ["(xmax = 0)" if name == INSERTED else quote(pk.column if name in ("pk", pk.name)
                                                              else by_name[name].column) for name in returning]
        sql.append(" RETURNING " + ", ".join(columns))
    document = _document(complete)
    if "\\u0000" in document and _NUL.search(document):
        # PostgreSQL would say "unsupported Unicode escape sequence" about the whole batch; say what it is.
        raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    with connection.cursor() as cursor:
        cursor.execute("".join(sql), [document])
        return [tuple(r) for r in cursor.fetchall()] if returning else []


def _stored(model, rows, unique_fields, newer_field):
    """Other databases: the rows to write (those whose stored version is not newer), and the keys already stored.

    SQLite writers take the database's lock when their transaction begins (transaction_mode IMMEDIATE in the
    settings), so nobody writes between this read and the write of a caller inside a transaction.
    """
    attnames = [model._meta.get_field(name).attname for name in unique_fields]
    newer_attname = model._meta.get_field(newer_field).attname if newer_field else None
    keys = {tuple(row[name] for name in attnames): row for row in rows}
    candidates = model.objects.filter(**{f"{name}__in": {key[i] for key in keys} for i, name in enumerate(attnames)})
    existed, newer = set(), set()
    for values in candidates.values_list(*attnames, *([newer_attname] if newer_attname else [])):
        key = tuple(values[:len(attnames)])
        if key not in keys:
            continue
        existed.add(key)
        if newer_attname and values[-1] is not None and values[-1] > keys[key][newer_attname]:
            newer.add(key)
    return [row for key, row in keys.items() if key not in newer], existed


def _orm_upsert(model, rows, defaults, unique_fields, update_fields, returning, existed=()):
    if not rows:
        return []
    objs = [model(**{**defaults, **{k: v.value if isinstance(v, Encoded) else v for k, v in row.items()}})
            for row in rows]
    options = {}
    if unique_fields:
        options = {"update_conflicts": bool(update_fields), "ignore_conflicts": not update_fields,
                   "unique_fields": list(unique_fields)}
        if update_fields:
            options["update_fields"] = list(update_fields)
    written = model.objects.bulk_create(objs, **options)
    if not returning:
        return []
    if any(o.pk is None for o in written):
        if not unique_fields:
            raise ValueError(f"{model.__name__}: this database cannot return the ids of a bulk insert")
        # SQLite before 3.35 and friends: read the rows back by their unique key.
        keys = {tuple(getattr(o, model._meta.get_field(n).attname) for n in unique_fields) for o in objs}
        lookup = models.Q()
        for key in keys:
            lookup |= models.Q(**{model._meta.get_field(n).attname: v for n, v in zip(unique_fields, key)})
        written = list(model.objects.filter(lookup))
    key_names = [model._meta.get_field(n).attname for n in unique_fields]

    def value(obj, name):
        if name == INSERTED:
            return tuple(getattr(obj, n) for n in key_names) not in existed
        return getattr(obj, "pk" if name == "pk" else model._meta.get_field(name).attname)

    return [tuple(value(o, name) for name in returning) for o in written]


def insert_unless_exists(model, row, *, unique_fields):
    """Insert one row unless a row with the same `unique_fields` exists; its primary key, or None if it existed.

    One statement (`INSERT ... ON CONFLICT DO NOTHING RETURNING`, PostgreSQL and SQLite 3.35+), so it needs no
    transaction of its own: a webhook is stored with a single round trip, and a repeat raises nothing.
    """
    sql, fields, constants = _insert_unless_exists_plan(model, tuple(unique_fields), connection.vendor)
    now = None
    params = []
    for field, constant in zip(fields, constants):
        if field.attname in row:
            value = row[field.attname]
        elif constant is not _DYNAMIC:
            params.append(constant)  # a constant default, prepared once
            continue
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now = now or timezone.now()
        else:
            value = field.get_default()
        params.append(field.get_db_prep_save(value, connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    return found[0] if found else None


_DYNAMIC = object()  # a column whose default is computed per row (a callable default, auto_now)
_insert_plans = {}


def _insert_unless_exists_plan(model, unique_fields, vendor):
    """The statement, its fields and their defaults prepared once per model (a webhook inserts one row per request:
    building the SQL and preparing a dozen defaults again each time was a tenth of the receipt's CPU)."""
    key = (model, unique_fields, vendor)
    plan = _insert_plans.get(key)
    if plan is None:
        fields = _columns(model)
        by_name = {f.name: f for f in model._meta.concrete_fields}
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) "
            f"ON CONFLICT ({', '.join(quote(by_name[n].column) for n in unique_fields)}) DO NOTHING "
            f"RETURNING {quote(model._meta.pk.column)}"
        )
        constants = [_DYNAMIC if ((f.has_default() and callable(f.default)) or getattr(f, "auto_now", False)
                                  or getattr(f, "auto_now_add", False))
                     else f.get_db_prep_save(f.get_default(), connection) for f in fields]
        plan = _insert_plans[key] = (sql, fields, constants)
    return plan
