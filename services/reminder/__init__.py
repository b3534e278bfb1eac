"""Reminder: one daily follow-up reminder per recruiter, on their local morning, exactly once."""
