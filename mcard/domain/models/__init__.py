"""Domain models: the card and the errors."""

from .card import MCard
from .exceptions import AmbiguousHashError, ConfigurationError, MCardError, StorageError, ValidationError

__all__ = ["MCard", "MCardError", "ValidationError", "AmbiguousHashError", "StorageError", "ConfigurationError"]
