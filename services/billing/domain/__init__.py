"""Billing domain rules: plain Python, no nameko, no SQL. Amounts are ``Decimal`` with a
currency beside them (see :mod:`crm_platform.money`)."""
