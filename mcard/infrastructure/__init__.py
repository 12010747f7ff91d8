"""Infrastructure: persistence engines and the async wrapper."""
