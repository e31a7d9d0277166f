"""Plain data and constants shared by every layer. No I/O here."""
