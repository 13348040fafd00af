"""Web services deployed with Eldwyn."""
