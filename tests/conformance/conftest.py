"""The conformance tests (OpenStack's Tempest against pocketstack serve), marked `conformance`:
`pytest -m conformance` runs only them, `-m 'not conformance'` everything else."""


def pytest_configure(config):
    config.addinivalue_line("markers", "conformance: Tempest against pocketstack serve (conformance/)")
