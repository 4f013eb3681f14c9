"""Trust: marks that tell a file made here from any other (engines.trust.watermark)."""
