"""A tiny trainer package the local service tests submit (one module per behaviour)."""
