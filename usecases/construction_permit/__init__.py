"""Construction permit use case (issue 8): so far the municipality's biller side of P2G."""
