"""Principals: API callers, their tokens and grants."""
