"""The audit log: who did what, through which surface, with which outcome."""
