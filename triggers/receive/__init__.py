"""Receive: the webhook URL, the ingest pipeline and the dedup write (one statement)."""
