"""Model resolution and (later) preferences, attempts and health."""
