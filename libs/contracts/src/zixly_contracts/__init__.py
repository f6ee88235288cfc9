"""Versioned event and command schemas shared by every Zixly service (the wire format)."""
