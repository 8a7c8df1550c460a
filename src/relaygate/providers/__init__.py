"""Provider adapters: one module per upstream wire protocol or vendor, pure transforms only."""
