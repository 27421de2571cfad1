"""URLs under /api/whatsapp/: the WhatsApp instances."""

from django.urls import re_path

from triggers.operate import api

instance_list = api.InstanceViewSet.as_view({"get": "list", "post": "create"})
instance_detail = api.InstanceViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)

urlpatterns = [
    re_path(r"^instances/?$", instance_list, name="instance-list"),
    re_path(r"^instances/(?P<name>[-a-zA-Z0-9_]{1,50})/?$", instance_detail, name="instance-detail"),
]
