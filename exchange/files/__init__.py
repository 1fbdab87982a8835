"""Order files in, trades/events/book out: reading, writing, replay and generation."""
