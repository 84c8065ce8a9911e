"""The qemu driver: real guests on hosts reached over SSH."""
