"""Firms: their repository (load and lock with the chain head, list queries) and business actions."""
