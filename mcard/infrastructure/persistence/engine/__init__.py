"""Storage engines behind the ``BaseStore`` interface."""
