"""One module per command-line command; each exposes ``register(subparsers)``."""
