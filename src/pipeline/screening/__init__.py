"""Screening: candidate lists for the next tier and recognition warnings, built on eligibility."""
