import hmac
import json
import logging

from django.db import connection, transaction
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.baseline.models import BareEvent, WorkCounter, WorkEvent, WorkTask

# One statement in autocommit: no BEGIN and COMMIT around it (`bulk_create` would add
# both, three round trips), no lookup before it. A taken key writes nothing.
INSERT = (
    f'INSERT INTO "{BareEvent._meta.db_table}" ("key", "created_at") VALUES (%s, %s) '  # noqa: S608
    'ON CONFLICT ("key") WHERE "key" IS NOT NULL DO NOTHING'
)


class BareInsertView(APIView):
    """One autocommit INSERT (doing nothing on a taken key) and a 202: what this stack does at the least."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes: list = []
    renderer_classes = [JSONRenderer]

    def post(self, request):
        with connection.cursor() as cursor:
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            cursor.execute(INSERT, [request.headers.get("Idempotency-Key"), now])
        return Response({"status": "accepted"}, status=202)


# --- The necessary-work floor ------------------------------------------------------------
#
# What an accepted event must write, as a careful user would write it on this stack with
# nothing of ours: the body parsed as JSON, a bearer token compared in constant time, the
# event under its unique key, its task row, a per-trigger hour counter sharded by database
# backend (a taken key is counted as a duplicate on it), one log line. On PostgreSQL one
# statement in autocommit (one round trip); SQLite has no data-modifying CTE, so three
# statements in one transaction.

# Under `evonexus`, so it goes through the same handler, at the same level, as the webhook's line.
logger = logging.getLogger("evonexus.bench_floor")
TOKEN = "bench-trigger-secret-0123456789abcdef"
TRIGGER_ID = 1
SHARDS = 8
EVENT, TASK, COUNTER = (model._meta.db_table for model in (WorkEvent, WorkTask, WorkCounter))

POSTGRESQL = f"""
WITH event AS (
    INSERT INTO "{EVENT}" (trigger_id, key, payload, created_at)
    VALUES (%(trigger)s, %(key)s, %(payload)s, %(now)s)
    ON CONFLICT (trigger_id, key) WHERE key IS NOT NULL DO NOTHING RETURNING id
), task AS (
    INSERT INTO "{TASK}" (event_id, enqueued_at) SELECT id, %(now)s FROM event RETURNING event_id
)
INSERT INTO "{COUNTER}" AS c (trigger_id, hour, shard, accepted, duplicates)
SELECT %(trigger)s, %(hour)s, pg_backend_pid() %% {SHARDS}, n, 1 - n
FROM (SELECT count(*) AS n FROM task) AS t
ON CONFLICT (trigger_id, hour, shard)
DO UPDATE SET accepted = c.accepted + EXCLUDED.accepted, duplicates = c.duplicates + EXCLUDED.duplicates
"""  # noqa: S608 (table names from the models; values bound)

SQLITE_EVENT = (
    f'INSERT INTO "{EVENT}" (trigger_id, key, payload, created_at) VALUES (%s, %s, %s, %s) '  # noqa: S608
    "ON CONFLICT (trigger_id, key) WHERE key IS NOT NULL DO NOTHING RETURNING id"
)
SQLITE_TASK = f'INSERT INTO "{TASK}" (event_id, enqueued_at) VALUES (%s, %s)'  # noqa: S608
SQLITE_COUNTER = (
    f'INSERT INTO "{COUNTER}" AS c (trigger_id, hour, shard, accepted, duplicates) '  # noqa: S608
    "VALUES (%s, %s, 0, %s, %s) ON CONFLICT (trigger_id, hour, shard) DO UPDATE SET "
    "accepted = c.accepted + excluded.accepted, duplicates = c.duplicates + excluded.duplicates"
)


class NecessaryWorkView(APIView):
    """What an accepted event must cost on this stack, and nothing of ours: the floor to grade against."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]

    def post(self, request):
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), TOKEN.encode()):
            return Response({"error": "unauthorized"}, status=401)
        payload = json.dumps(request.data)
        key = request.headers.get("Idempotency-Key")
        now = timezone.now()
        hour = now.replace(minute=0, second=0, microsecond=0)
        if connection.vendor == "postgresql":
            values = {"trigger": TRIGGER_ID, "key": key, "payload": payload, "now": now, "hour": hour}
            with connection.cursor() as cursor:
                cursor.execute(POSTGRESQL, values)
        else:
            stamp, hour_stamp = (connection.ops.adapt_datetimefield_value(t) for t in (now, hour))
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(SQLITE_EVENT, [TRIGGER_ID, key, payload, stamp])
                row = cursor.fetchone()
                if row is not None:
                    cursor.execute(SQLITE_TASK, [row[0], stamp])
                accepted = int(row is not None)
                cursor.execute(SQLITE_COUNTER, [TRIGGER_ID, hour_stamp, accepted, 1 - accepted])
        logger.info("evt=floor_event key=%s", key)
        return Response({"status": "accepted"}, status=202)
