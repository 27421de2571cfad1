"""Run code in threads the way a server does: each thread gives its database connection back."""

import threading
from collections.abc import Callable

from django.db import connections


def run_in_threads(work: Callable[[], object], count: int) -> list:
    """Return what `work` returned in each of `count` threads started together (in finishing order).

    Each thread closes its connections when done: with PostgreSQL's pool, that
    is what hands the connection back (a request's end does it in a server).
    """
    results: list = []

    def run() -> None:
        try:
            results.append(work())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
