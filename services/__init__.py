"""The four Prospectflow services: intake, rating, messaging, reminder."""
