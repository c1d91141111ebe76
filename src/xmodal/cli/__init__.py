"""Command-line interface: ``xmodal <verb> ...``; one module per verb, each with ``register(subparsers)``."""
