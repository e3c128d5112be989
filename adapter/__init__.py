"""bloxs-adapter: webhooks from ticketing, mail and form tools in, Bloxs service tickets out."""

__version__ = "0.1.0"
