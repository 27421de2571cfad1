"""Record an event exactly once: the dedup write path, in as few round trips as the database allows.

Insert first; the unique constraint decides. A new event is one INSERT that
does nothing on a key conflict; a conflict counts the duplicate against the
execution holding the key, as an event row (the holder's row is not written).

On PostgreSQL with the database task queue, all of it is one statement (a
data-modifying CTE): the execution and its task row commit together, or the
duplicate is counted, in one round trip. On SQLite the execution and its task
row, or the duplicate's count, are two statements in one transaction, which
takes the database's write lock once. Both write `django-tasks-db`'s row
themselves, built the way its `DatabaseBackend.enqueue` builds it
(`_task_values`); a test compares the two rows column by column, so a change
in the library shows up as a failing test, not as a task the worker cannot
read. (The library's `task_enqueued` signal, whose one receiver logs at DEBUG,
is not sent.) With the Redis queue the task goes through the Tasks API once
the row is committed.
"""

# The SQL here is built from model metadata (tables, columns, the constraint) and
# binds every value as a parameter; nothing a request sent becomes SQL text.
# ruff: noqa: S608

import functools
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Field, Model
from django.db.models.sql import Query
from django.utils import timezone
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult, get_date_max

from triggers.execute.executor import enqueue_execution, run_execution
from triggers.models import IDEMPOTENCY_CONSTRAINT, ExecutionEvent, Trigger, TriggerExecution

EXECUTIONS = TriggerExecution._meta.db_table
EVENTS = ExecutionEvent._meta.db_table
TASKS = DBTaskResult._meta.db_table
TASK_ARGS = DBTaskResult._meta.get_field("args_kwargs")
# What recording gives each new row; every other field takes its default.
EXECUTION_GIVEN = frozenset({"trigger_id", "event_data", "idempotency_key"})
TASK_GIVEN = frozenset({"id"})


@dataclass(frozen=True)
class Recorded:
    """What recording an event did: `accepted` a new execution or found a `duplicate`."""

    outcome: str
    execution_id: int


def _null_by_default(field: Field) -> bool:
    """Return whether a new row holds NULL in `field` unless it is given a value.

    So the column can be left out of the INSERT: with no database default, the
    database writes the NULL itself, and every value bound costs the request
    (leaving out twelve such columns saved 25-100 µs of CPU an event: BENCHMARKS.md).
    """
    has_callable_default = field.has_default() and callable(field.default)
    return (
        field.null
        and not field.has_db_default()
        and not has_callable_default
        and not _stamped_on_save(field)
        and field.get_default() is None
    )


@functools.cache
def _insert_fields(model: type[Model], given: frozenset[str] = frozenset()) -> list:
    """Return the fields an INSERT of a new `model` row names: what `Model.save()` writes, less the NULLs.

    Not the auto-increment key, and not a field that is NULL by default
    unless `given` (attribute names) sets it.
    """
    meta = model._meta
    return [
        f
        for f in meta.local_concrete_fields
        if f is not meta.auto_field and not f.generated and (f.attname in given or not _null_by_default(f))
    ]


def _stamped_on_save(field: Field) -> bool:
    """Return whether `Model.save()` writes the current time into `field` (`auto_now`, `auto_now_add`)."""
    return getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)


@functools.cache
def _constant_values(model: type[Model], vendor: str) -> dict[str, object]:
    """Return, by attribute name, the prepared default of each field whose default is a constant.

    Prepared once: every new row writes the same value for them.
    """
    db = connections[DEFAULT_DB_ALIAS]
    return {
        f.attname: f.get_db_prep_save(f.get_default(), db)
        for f in _insert_fields(model)
        if not (f.has_default() and callable(f.default)) and not _stamped_on_save(f)
    }


def _insert_values(model: type[Model], constants: dict[str, object] | None = None, **given: object) -> list:
    """Return the prepared values an INSERT of a new `model` row writes, in `_insert_fields` order.

    `given` by attribute name (`trigger_id`, not `trigger`), which the INSERT
    names even where the default is NULL; then `constants`,
    values already prepared (by default `_constant_values`); every other field
    gets its default as `Model.save()` would give it: a callable default is
    called and `auto_now_add` is the current time, for each row.
    """
    db = connections[DEFAULT_DB_ALIAS]
    if constants is None:
        constants = _constant_values(model, db.vendor)
    values = []
    for f in _insert_fields(model, frozenset(given)):
        if f.attname in given:
            value = f.get_db_prep_save(given[f.attname], db)
        elif f.attname in constants:
            value = constants[f.attname]
        else:  # computed for each row, as `Model.save()` computes it
            value = f.get_db_prep_save(timezone.now() if _stamped_on_save(f) else f.get_default(), db)
        values.append(value)
    return values


def _columns(model: type[Model], given: frozenset[str]) -> list[str]:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    return [quote(f.column) for f in _insert_fields(model, given)]


@functools.cache
def _key_predicate(vendor: str) -> str:
    """Return the dedup constraint's condition as SQL, with its constants inlined.

    What `ON CONFLICT` must name for the database to use the partial unique
    index: both compare it to the index's own condition, which holds the
    constants as literals (SQLite does not match a bound parameter).
    """
    constraint = next(c for c in TriggerExecution._meta.constraints if c.name == IDEMPOTENCY_CONSTRAINT)
    query = Query(TriggerExecution, alias_cols=False)
    where = query.build_where(constraint.condition)
    sql, params = where.as_sql(query.get_compiler(connection=connection), connection)
    # The constants are the constraint's own (status names), never anything a request sent.
    return sql % tuple("'{}'".format(str(param).replace("'", "''")) for param in params)


def _insert_sql(model: type[Model], given: frozenset[str]) -> str:
    """Return the INSERT of one `model` row, its values as parameters in `_insert_values` order."""
    columns = _columns(model, given)
    return (
        f'INSERT INTO "{model._meta.db_table}" ({", ".join(columns)}) '
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )


@functools.cache
def _insert_execution_sql(vendor: str) -> str:
    """Return the INSERT of a new execution that does nothing when a live execution holds its key."""
    return (
        f"{_insert_sql(TriggerExecution, EXECUTION_GIVEN)} "
        f'ON CONFLICT ("trigger_id", "idempotency_key") WHERE {_key_predicate(vendor)} '
        'DO NOTHING RETURNING "id"'
    )


@functools.cache
def _count_duplicate_sql(vendor: str, unless_inserted: bool = False) -> str:
    """Return the INSERT of a duplicate's event row for the live execution holding (`trigger_id`, `key`).

    Then `at` and `kind` as parameters; it returns the holder's id, or no row when no live
    execution holds the key. It reads the holder and writes only the event.
    """
    unless = " AND NOT EXISTS (SELECT 1 FROM execution)" if unless_inserted else ""
    return (
        f'INSERT INTO "{EVENTS}" ("execution_id", "at", "kind") SELECT "id", %s, %s FROM "{EXECUTIONS}" '
        f'WHERE "trigger_id" = %s AND "idempotency_key" = %s AND {_key_predicate(vendor)}{unless} '
        'RETURNING "execution_id"'
    )


@functools.cache
def _record_in_one_statement_sql(vendor: str) -> str:
    """Return one statement (PostgreSQL) recording an event: the execution and its task, or a duplicate.

    A new key inserts the execution and its task row. A key held by an
    execution committed before the statement began writes the duplicate's
    event row instead (`counted`). A key taken by a transaction still in
    flight when it began returns nothing: its holder is not in this
    statement's snapshot, so `count_duplicate` counts it in a statement of
    its own.
    """
    args_column = connections[DEFAULT_DB_ALIAS].ops.quote_name(TASK_ARGS.column)
    selected = [
        # What `enqueue(execution_id)` stores: {"args": [id], "kwargs": {}}.
        "jsonb_build_object('args', jsonb_build_array(execution.id), 'kwargs', '{}'::jsonb)"
        if column == args_column
        else "%s"
        for column in _columns(DBTaskResult, TASK_GIVEN)
    ]
    return (
        f"WITH execution AS ({_insert_execution_sql(vendor)}), "
        f'task AS (INSERT INTO "{TASKS}" ({", ".join(_columns(DBTaskResult, TASK_GIVEN))}) '
        f"SELECT {', '.join(selected)} FROM execution), "
        f"counted AS ({_count_duplicate_sql(vendor, unless_inserted=True)}) "
        "SELECT id, true FROM execution UNION ALL SELECT execution_id, false FROM counted"
    )


def _new_execution_values(trigger: Trigger, event_data: dict, key: str | None) -> list:
    # Exactly the fields of EXECUTION_GIVEN: the statement names those columns.
    return _insert_values(TriggerExecution, trigger_id=trigger.pk, event_data=event_data, idempotency_key=key)


@functools.cache
def _task_constants(backend: DatabaseBackend) -> dict[str, object]:
    """Return, prepared and by attribute name, what every task row of `run_execution` on `backend` writes.

    The task is validated for the backend here, as `DatabaseBackend.enqueue`
    validates it, once per backend instance: changed settings make new ones.
    Its arguments are left empty for the caller to fill in.
    """
    task = run_execution
    backend.validate_task(task)
    db = connections[DEFAULT_DB_ALIAS]
    given = {
        "priority": task.priority,
        "task_path": task.module_path,
        "queue_name": task.queue_name,
        "run_after": task.run_after or get_date_max(),
        "backend_name": backend.alias,
        "args_kwargs": {"args": [], "kwargs": {}},
    }
    prepared = {
        name: DBTaskResult._meta.get_field(name).get_db_prep_save(value, db) for name, value in given.items()
    }
    return {**_constant_values(DBTaskResult, db.vendor), **prepared}


def _task_values() -> list:
    """Return the values of the task row `DatabaseBackend.enqueue` would write for a new execution.

    Its arguments are still unset: the caller fills them in once the execution has its id.
    """
    backend = run_execution.get_backend()
    # The id is the backend's `id_function` option, as `enqueue` applies it.
    return _insert_values(DBTaskResult, _task_constants(backend), id=backend._get_id())  # TASK_GIVEN


def _record_in_one_statement(trigger: Trigger, event_data: dict, key: str | None) -> Recorded | None:
    """Return what recording the event did, in one round trip; `None`: count the duplicate apart."""
    fields = _insert_fields(DBTaskResult, TASK_GIVEN)
    task_values = [
        value for field, value in zip(fields, _task_values(), strict=True) if field is not TASK_ARGS
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            _record_in_one_statement_sql(connection.vendor),
            [
                *_new_execution_values(trigger, event_data, key),
                *task_values,
                timezone.now(),
                ExecutionEvent.Kind.DUPLICATE,
                trigger.pk,
                key,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Recorded("accepted" if row[1] else "duplicate", row[0])


def _insert_with_task_row(trigger: Trigger, event_data: dict, key: str | None) -> Recorded | None:
    """Return the new execution, its task row written beside it in one transaction, or the duplicate counted.

    Statements with next to no Python between them, everything prepared
    before: on SQLite the transaction holds the database's one write lock,
    and every other writer waits for it. A taken key is counted in the same
    transaction, so a duplicate takes the lock once. `None` when no live
    execution holds the key after all (replayed a moment ago).
    """
    execution_values = _new_execution_values(trigger, event_data, key)
    task_values = _task_values()
    args_at = _insert_fields(DBTaskResult, TASK_GIVEN).index(TASK_ARGS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_insert_execution_sql(connection.vendor), execution_values)
        row = cursor.fetchone()
        if row is None:
            holder = _count_duplicate(cursor, trigger.pk, key)
            return None if holder is None else Recorded("duplicate", holder)
        task_values[args_at] = TASK_ARGS.get_db_prep_save({"args": [row[0]], "kwargs": {}}, connection)
        cursor.execute(_insert_sql(DBTaskResult, TASK_GIVEN), task_values)
    return Recorded("accepted", row[0])


def _insert_then_enqueue(trigger: Trigger, event_data: dict, key: str | None) -> Recorded | None:
    """Return the new execution, queued through the Tasks API once committed, or the duplicate counted.

    `None` as for `_insert_with_task_row`.
    """
    values = _new_execution_values(trigger, event_data, key)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_insert_execution_sql(connection.vendor), values)
        row = cursor.fetchone()
        if row is None:
            holder = _count_duplicate(cursor, trigger.pk, key)
            return None if holder is None else Recorded("duplicate", holder)
        enqueue_execution(row[0])  # a queue outside the database: after the commit
    return Recorded("accepted", row[0])


def insert_execution(trigger: Trigger, event_data: dict, key: str | None) -> Recorded | None:
    """Return the new pending execution, committed with its task, or the duplicate counted.

    `None` when `key` was taken but no live execution holds it any more, or
    (PostgreSQL) its holder committed after the statement began: the duplicate
    is still to be counted.
    """
    if not isinstance(run_execution.get_backend(), DatabaseBackend):
        return _insert_then_enqueue(trigger, event_data, key)
    if connection.vendor == "postgresql":
        return _record_in_one_statement(trigger, event_data, key)
    return _insert_with_task_row(trigger, event_data, key)


def _count_duplicate(cursor: CursorWrapper, trigger_id: int, key: str) -> int | None:
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    kind = ExecutionEvent.Kind.DUPLICATE
    cursor.execute(_count_duplicate_sql(connection.vendor), [now, kind, trigger_id, key])
    row = cursor.fetchone()
    return None if row is None else row[0]


def count_duplicate(trigger_id: int, key: str) -> int | None:
    """Return the id of the live execution holding `key`, after counting one duplicate against it.

    `None` when no live execution holds it any more (replayed a moment ago).
    The duplicate is an event row, which says when it arrived (stats over a
    time window are exact) and is what `with_duplicate_count` counts. The
    holder's own row is not written, so concurrent duplicates of one key do
    not queue behind its lock.
    """
    with connection.cursor() as cursor:
        return _count_duplicate(cursor, trigger_id, key)


def record_event(trigger: Trigger, event_data: dict, key: str | None) -> Recorded:
    """Return the new pending execution for the event, or the one already holding its key.

    The unique constraint decides: the INSERT does nothing when a live
    execution holds the key, and the duplicate is counted against it. Any
    other integrity error is raised. An event without a key is never
    deduplicated.
    """
    for _ in range(3):  # a holder can be replayed between conflict and count; insert again then
        if (recorded := insert_execution(trigger, event_data, key)) is not None:
            return recorded
        if (holder := count_duplicate(trigger.pk, key)) is not None:
            return Recorded("duplicate", holder)
    raise RuntimeError(f"could not record event with key {key!r} for trigger {trigger.pk}")
