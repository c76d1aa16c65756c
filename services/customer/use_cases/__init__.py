"""Use cases of the customer service, one module per area; each function opens nothing
itself: it gets a unit of work, loads, applies the domain rule, records history and
events, and commits."""
