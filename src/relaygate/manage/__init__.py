"""The `keys` and `usage` commands: they act on the configured database directly, with no
gateway running (a running gateway picks up key changes by itself)."""
