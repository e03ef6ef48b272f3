"""Private helpers; no stability promise."""
