"""The domain: what a card is, independent of storage."""
