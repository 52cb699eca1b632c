"""Signed webhooks for the systems that follow the pipeline (Standard Webhooks): subscriptions, the queue fed
from the change feed, and the delivery worker."""
