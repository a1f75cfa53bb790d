"""Tenants, apps, devices, chats, contacts, messages, the event log and the surfaces on top."""
