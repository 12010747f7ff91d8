"""Domain models: the card and the errors."""

from .card import MCard
from .exceptions import ConfigurationError, MCardError, StorageError, ValidationError

__all__ = ["MCard", "MCardError", "ValidationError", "StorageError", "ConfigurationError"]
