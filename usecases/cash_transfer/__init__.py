"""Unconditional social cash transfer (USCT) use case, end to end through the Information Mediator."""
