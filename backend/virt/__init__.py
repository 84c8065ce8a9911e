"""Hypervisor drivers: one interface (driver.ComputeDriver), a fake and a qemu implementation."""


def load_driver(host, config):
    """The driver named by the host's hosts.yaml entry."""
    if host.driver == "fake":
        from backend.virt.fake import FakeDriver
        return FakeDriver(host, config)
    from backend.virt.qemu.driver import QemuDriver
    return QemuDriver(host, config)
