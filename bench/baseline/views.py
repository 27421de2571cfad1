from django.db import connection
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.baseline.models import BareEvent

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
