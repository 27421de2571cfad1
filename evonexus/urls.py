"""Root URLs: the admin (the DLQ console), the API and its schema."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from evonexus.admin_login import throttled_login

urlpatterns = [
    path("admin/login/", throttled_login),  # before the admin's own login route
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/triggers/", include("triggers.urls")),
    path("api/whatsapp/", include("triggers.operate.instance_urls")),
    path("", include("triggers.operate.ops_urls")),
]

handler404 = "evonexus.errors.page_not_found"
handler500 = "evonexus.errors.server_error"
