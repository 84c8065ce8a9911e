"""The shared ground every service stands on: configuration, request context, errors,
states, the database and its data access, input parsing, quotas, the hosts file."""
