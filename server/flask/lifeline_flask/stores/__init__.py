"""Stores: where a stream's messages live. See server/DESIGN.md "Store interface"."""

from .base import Message, Read, Store
from .memory import MemoryStore

__all__ = ["Message", "Read", "Store", "MemoryStore"]
