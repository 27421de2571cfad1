"""Management commands run in process, as a shell would see them: exit code and output."""

import io

from django.core.management import call_command


def run_command(name: str, *args: str) -> tuple[int, str]:
    """Return the exit code (0 unless the command called `sys.exit`) and the stdout of `name`."""
    out = io.StringIO()
    try:
        call_command(name, *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue()
