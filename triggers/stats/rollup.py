"""The stats rollup: exact counters per hour, kept by the database itself.

Each counted table (executions, their events, the messages we sent) has
counting hooks (SQL triggers, not our `Trigger` model) that add a row's
contribution to the counters of its hour when the row is written, and take it
back when the row changes or goes. So every way a row changes (ingest, the
worker, replays, the reaper, the admin, a bulk `update()`, a manual fix in
SQL) keeps the counters equal to the rows, in the
same transaction and without another round trip.

`COUNTERS` is the one definition: what each row adds, as SQL over a row `r`.
The hooks (PostgreSQL and SQLite) and `rebuild` are generated from it.

On PostgreSQL an INSERT is counted once per row, and an UPDATE or DELETE
once per statement (transition tables): every insert the service makes is one
row, and a row trigger does not run at all for an INSERT that writes none,
which the recording statement always holds (it inserts either the execution
or the duplicate's event). Updates and deletes come in bulk (the reaper, the
admin's actions, a trigger deleted with its executions), one upsert each.
Writes spread over `SHARDS` rows per hour, chosen by the connection's backend
pid, so concurrent writers seldom wait on one counter row; readers sum the
shards. SQLite has one writer at a time, row triggers and a single shard.
"""

# The SQL here is generated from the constants below and model metadata; rebuild binds
# its two datetimes as parameters. Nothing a request sent becomes SQL text.
# ruff: noqa: S608

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Max, Min

from triggers.choices import ExecutionStatus
from triggers.models import ExecutionEvent, SentMessage, StatsHour, TriggerExecution

SHARDS = 8
ROLLUP = StatsHour._meta.db_table


def _when(condition: str) -> str:
    return f"CASE WHEN {condition} THEN 1 ELSE 0 END"


@dataclass(frozen=True)
class Counted:
    """A table whose rows count: the column that names their hour, and what each row adds."""

    table: str
    at: str
    counters: dict[str, str]


COUNTERS = [
    Counted(
        TriggerExecution._meta.db_table,
        "created_at",
        {
            "executions": "1",
            **{status: _when(f"r.status = '{status}'") for status in ExecutionStatus.values},
            "dead_letter": _when("r.status = 'failed_retryable' AND r.redelivery_at IS NULL"),
            "operator_replays": _when("r.replay_of_id IS NOT NULL"),
            "whatsapp_executions": _when("r.whatsapp_attempts > 0"),
            "whatsapp_attempts": "r.whatsapp_attempts",
        },
    ),
    Counted(
        ExecutionEvent._meta.db_table,
        "at",
        {
            "duplicates": _when(f"r.kind = '{ExecutionEvent.Kind.DUPLICATE}'"),
            "redeliveries": _when(f"r.kind = '{ExecutionEvent.Kind.REDELIVERY}'"),
        },
    ),
    Counted(
        SentMessage._meta.db_table,
        "sent_at",
        {
            "messages_sent": "1",
            "messages_delivered": _when("r.delivered_at IS NOT NULL"),
            "messages_read": _when("r.read_at IS NOT NULL"),
        },
    ),
]

COUNTER_FIELDS = [name for counted in COUNTERS for name in counted.counters]


def _hour(vendor: str, column: str) -> str:
    """Return SQL for the start of the UTC hour holding `column` (a stored UTC datetime)."""
    if vendor == "postgresql":
        return f"date_trunc('hour', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    # SQLite stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC, as Django writes it.
    return f"substr({column}, 1, 13) || ':00:00'"


def _upsert(vendor: str, counted: Counted, contributions: str, shard: str) -> str:
    """Return the statement adding `contributions` (rows of hour and counters) to the rollup."""
    names = list(counted.counters)
    sums = ", ".join(f"sum({name})" for name in names)
    changed = " OR ".join(f"sum({name}) <> 0" for name in names)
    added = ", ".join(f"{name} = {ROLLUP}.{name} + excluded.{name}" for name in names)
    return (
        f"INSERT INTO {ROLLUP} (hour, shard, {', '.join(names)}) "
        f"SELECT hour, {shard}, {sums} FROM ({contributions}) AS c "
        # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT (a parsing ambiguity).
        f"WHERE true GROUP BY hour HAVING {changed} ORDER BY hour "
        f"ON CONFLICT (hour, shard) DO UPDATE SET {added}"
    )


def _contributions(vendor: str, counted: Counted, rows: str | None, sign: str = "", row: str = "r") -> str:
    """Return a SELECT of each row's hour and counters (negated with `sign="-"`).

    From the table or subquery `rows`; with `rows=None`, of the one row a
    row trigger names `row` (`NEW` or `OLD`).
    """
    columns = ", ".join(
        f"{sign}({expression.replace('r.', row + '.')}) AS {name}"
        for name, expression in counted.counters.items()
    )
    select = f"SELECT {_hour(vendor, row + '.' + counted.at)} AS hour, {columns}"
    return select if rows is None else f"{select} FROM {rows} AS {row}"


def _postgresql_triggers(counted: Counted) -> tuple[list[str], list[str]]:
    function = f"{counted.table}_rollup"
    shard = f"pg_backend_pid() % {SHARDS}"
    inserted = _contributions("postgresql", counted, None, row="NEW")
    added = _contributions("postgresql", counted, "new_rows")
    removed = _contributions("postgresql", counted, "old_rows", sign="-")
    install = [
        f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN  -- for each row
    {_upsert("postgresql", counted, inserted, shard)};
  ELSIF TG_OP = 'UPDATE' THEN
    {_upsert("postgresql", counted, f"{added} UNION ALL {removed}", shard)};
  ELSE
    {_upsert("postgresql", counted, removed, shard)};
  END IF;
  RETURN NULL;
END $$""",
        f"CREATE TRIGGER {function}_insert AFTER INSERT ON {counted.table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {function}_update AFTER UPDATE ON {counted.table} "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        f"CREATE TRIGGER {function}_delete AFTER DELETE ON {counted.table} "
        f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
    ]
    uninstall = [
        *(
            f"DROP TRIGGER IF EXISTS {function}_{op} ON {counted.table}"
            for op in ("insert", "update", "delete")
        ),
        f"DROP FUNCTION IF EXISTS {function}()",
    ]
    return install, uninstall


def _sqlite_triggers(counted: Counted) -> tuple[list[str], list[str]]:
    name = f"{counted.table}_rollup"

    # A row trigger sees NEW and OLD, not a table: select the one row from them.
    def one(row: str, sign: str = "") -> str:
        return _contributions("sqlite", counted, None, sign, row=row)

    changed = " OR ".join(
        f"({expression.replace('r.', 'OLD.')}) IS NOT ({expression.replace('r.', 'NEW.')})"
        for expression in [f"r.{counted.at}", *counted.counters.values()]
    )
    install = [
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {counted.table} BEGIN "
        f"{_upsert('sqlite', counted, one('NEW'), '0')}; END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE ON {counted.table} WHEN {changed} BEGIN "
        f"{_upsert('sqlite', counted, one('OLD', '-'), '0')}; "
        f"{_upsert('sqlite', counted, one('NEW'), '0')}; END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {counted.table} BEGIN "
        f"{_upsert('sqlite', counted, one('OLD', '-'), '0')}; END",
    ]
    uninstall = [f"DROP TRIGGER IF EXISTS {name}_{op}" for op in ("insert", "update", "delete")]
    return install, uninstall


def _statements(vendor: str) -> tuple[list[str], list[str]]:
    build = _postgresql_triggers if vendor == "postgresql" else _sqlite_triggers
    install, uninstall = [], []
    for counted in COUNTERS:
        adding, removing = build(counted)
        install += adding
        uninstall += removing
    return install, uninstall


def install(database: BaseDatabaseWrapper) -> None:
    """Create (or replace) the counting hooks on `database` (a Django connection), in one transaction."""
    install_sql, uninstall_sql = _statements(database.vendor)
    with transaction.atomic(using=database.alias), database.cursor() as cursor:
        for statement in [*uninstall_sql, *install_sql]:
            cursor.execute(statement)


def uninstall(database: BaseDatabaseWrapper) -> None:
    """Drop the counting hooks from `database`."""
    with transaction.atomic(using=database.alias), database.cursor() as cursor:
        for statement in _statements(database.vendor)[1]:
            cursor.execute(statement)


def clear_if_nothing_counted() -> bool:
    """Return whether the rollup was emptied because no row it counts exists.

    What `manage.py flush` needs on SQLite: it empties the tables one by one,
    in no set order, and deleting the rows after the rollup leaves negative
    counters behind. An empty database has an empty rollup.
    """
    if any(model.objects.exists() for model in (TriggerExecution, ExecutionEvent, SentMessage)):
        return False
    StatsHour.objects.all().delete()
    return True


def floor_hour(moment: datetime) -> datetime:
    """Return the start of the hour holding `moment`: the rollup row it counts in."""
    return moment.replace(minute=0, second=0, microsecond=0)


def _span() -> tuple[datetime, datetime] | None:
    """Return the first and last hour anything counted (rows or rollup) falls in; `None` if nothing does."""
    edges = [
        TriggerExecution.objects.aggregate(first=Min("created_at"), last=Max("created_at")),
        ExecutionEvent.objects.aggregate(first=Min("at"), last=Max("at")),
        SentMessage.objects.aggregate(first=Min("sent_at"), last=Max("sent_at")),
        StatsHour.objects.aggregate(first=Min("hour"), last=Max("hour")),
    ]
    firsts = [edge["first"] for edge in edges if edge["first"] is not None]
    lasts = [edge["last"] for edge in edges if edge["last"] is not None]
    if not firsts:
        return None
    return floor_hour(min(firsts)), floor_hour(max(lasts))


def _rebuild_slice(start: datetime, end: datetime) -> None:
    """Replace the rollup of the hours in [start, end) with what the rows say, in one transaction."""
    vendor = connection.vendor
    with transaction.atomic(), connection.cursor() as cursor:
        if vendor == "postgresql":
            # Writers' triggers wait while the slice is recounted, and those that wrote
            # before are committed first: no change is counted twice or lost.
            cursor.execute(f"LOCK TABLE {ROLLUP} IN SHARE ROW EXCLUSIVE MODE")
        bounds = [connection.ops.adapt_datetimefield_value(moment) for moment in (start, end)]
        cursor.execute(f"DELETE FROM {ROLLUP} WHERE hour >= %s AND hour < %s", bounds)
        for counted in COUNTERS:
            rows = f"(SELECT * FROM {counted.table} WHERE {counted.at} >= %s AND {counted.at} < %s)"
            cursor.execute(_upsert(vendor, counted, _contributions(vendor, counted, rows), "0"), bounds)


def rebuild(*, slice_hours: int = 24) -> int:
    """Return how many slices of `slice_hours` were recounted, after recounting the rollup from the rows.

    For after a restore, a bulk import or a manual fix that bypassed the
    triggers. Safe while the service runs: each slice is one short
    transaction that writers wait for, so counts stay exact throughout.
    """
    span = _span()
    if span is None:
        return 0
    first, last = span
    step = timedelta(hours=slice_hours)
    slices, start = 0, first
    while start <= last:
        _rebuild_slice(start, start + step)
        start += step
        slices += 1
    return slices
