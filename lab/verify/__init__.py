"""End-to-end checks of the whole stack: the live dashboard verification."""
