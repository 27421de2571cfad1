from django.urls import path

from bench.baseline.views import BareInsertView, NecessaryWorkView
from evonexus.urls import urlpatterns as evonexus_urlpatterns

urlpatterns = [
    *evonexus_urlpatterns,
    path("bench/insert", BareInsertView.as_view()),
    path("bench/work", NecessaryWorkView.as_view()),
]
