"""Rating: the recruiter's prospect board: ratings, follow-up flags, and the views."""
