"""How the services talk: the bus, the events for live panels, the trace of a request."""
