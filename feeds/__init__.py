"""feeds: stock and price feeds for Hub, rendered to the byte and delivered on time."""

__version__ = "0.1.0"
