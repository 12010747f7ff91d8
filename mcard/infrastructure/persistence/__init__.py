"""Persistence: engine configurations, engines, and the async wrapper."""
