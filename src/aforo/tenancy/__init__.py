"""Who is asking, and for which tenant."""
