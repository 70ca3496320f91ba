"""CLI commands, one module each; each defines ``register(app)``. Only these modules print."""
