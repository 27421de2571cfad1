"""Benchmark settings: the real settings plus the bare-INSERT baseline endpoint."""

from evonexus.settings import *  # noqa: F403
from evonexus.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.baseline"]
ROOT_URLCONF = "bench.urls"
