"""nova-compute: one manager per host. It reaches the database only through the conductor."""
