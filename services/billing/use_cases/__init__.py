"""Use cases of the billing service, one module per area: each function gets a unit of
work, loads through ``db.queries``, applies the domain rule, publishes events, commits."""
