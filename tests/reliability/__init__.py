"""Reliability and security harness: doors to fuzz, crash and soak runners (package so runners import it)."""
