"""The local lab (sshd + qemu hosts on this machine) and the tiny guest image: tools, not services."""
