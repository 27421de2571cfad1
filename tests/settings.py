"""Test settings: the real settings, with a test secret and a file-based SQLite test DB.

The test SQLite database is a file (not in-memory) so that real server and
worker processes started by the tests can share it.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-use-0123456789")

from evonexus.settings import *  # noqa: F403
from evonexus.settings import BASE_DIR, DATABASES

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}

# Real server processes in tests serve the admin's static files without collectstatic.
WHITENOISE_USE_FINDERS = True

# Users are made by the hundred in the tests; the production hasher's deliberate
# slowness (about 0.5 s a password here) would be most of the suite's time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Files kept without S3 go to a directory of the test run's own, not the checkout's media/.
WHATSAPP_MEDIA_DIR = Path(tempfile.gettempdir()) / "evonexus-test-media"
