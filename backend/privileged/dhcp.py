"""Privileged commands (DHCP: dnsmasq per network in a qdhcp- namespace)."""
COMMANDS: dict = {}
