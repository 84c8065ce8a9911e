"""nova-conductor: the only service of the build path that touches the database."""
