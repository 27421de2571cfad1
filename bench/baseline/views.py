from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from bench.baseline.models import BareEvent


class BareInsertView(APIView):
    """One autocommit INSERT and a 202: what this stack does at the least."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes: list = []
    renderer_classes = [JSONRenderer]

    def post(self, request):
        event = BareEvent.objects.create(key=request.headers.get("Idempotency-Key"))
        return Response({"status": "accepted", "id": event.pk}, status=202)
