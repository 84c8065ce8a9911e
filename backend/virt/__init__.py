"""Hypervisor drivers: one interface (driver.ComputeDriver), a fake and a qemu implementation."""
