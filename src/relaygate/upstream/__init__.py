"""The pooled HTTP client that talks to upstreams."""
