"""Execute: run an execution's action (scripts, WhatsApp sends), hold and release, recover lost work."""
