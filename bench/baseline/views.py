from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.baseline.models import BareEvent


class BareInsertView(APIView):
    """One autocommit INSERT (doing nothing on a taken key) and a 202: what this stack does at the least."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes: list = []
    renderer_classes = [JSONRenderer]

    def post(self, request):
        # INSERT ... ON CONFLICT DO NOTHING: the floor for new keys and for repeated ones alike.
        BareEvent.objects.bulk_create(
            [BareEvent(key=request.headers.get("Idempotency-Key"))], ignore_conflicts=True
        )
        return Response({"status": "accepted"}, status=202)
