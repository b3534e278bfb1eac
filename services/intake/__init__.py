"""Intake: validates inquiries from job boards, merges duplicates, registers prospects."""
