"""Risk and diagnosis models: feature specs, training, registry of signed bundles, prediction.

Bundles live in ``assets/models/<name>/<version>/`` (weights + card.json) and are
only ever opened through :mod:`engine.models.registry`, which checks their sha256.
"""
