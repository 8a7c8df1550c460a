"""Client keys (and later limits and budgets)."""
