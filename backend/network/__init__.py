"""neutron: networks, subnets and ports."""
