"""Shared machinery of the CRM platform.

Modules at this level import neither nameko nor eventlet, so the gateway and the
services' ``schemas.py`` / ``events.py`` can use them. Everything that needs nameko
lives in :mod:`crm_platform.service`.
"""
