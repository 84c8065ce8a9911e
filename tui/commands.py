"""The `:` command palette, k9s style: jump to a resource list, switch project, log out."""
from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

COMMANDS = [
    ("servers", "the live instances table"),
    ("hosts", "compute hosts: state, usage, instances"),
    ("images", "images (delete)"),
    ("flavors", "flavors (create, delete)"),
    ("networks", "networks with ports and free addresses (create, delete)"),
    ("volumes", "volumes (create, delete)"),
    ("glossary", "what every state, fault kind, scheduler filter and weigher means"),
    ("switch project", "scope the session to another project"),
    ("log out", "revoke the token and return to the login screen"),
]


class ResourceCommands(Provider):
    def _run(self, name: str) -> None:
        app = self.app
        if name == "glossary":
            from tui.screens.glossary import GlossaryScreen
            app.push_screen(GlossaryScreen())
        elif name == "switch project":
            app.switch_project()
        elif name == "log out":
            app.run_worker(app.logout(), exclusive=True, group="session")
        else:
            app.open_list(name)

    async def discover(self) -> Hits:
        for name, help_text in COMMANDS:
            yield DiscoveryHit(name, partial(self._run, name), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text in COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self._run, name), text=name,
                          help=help_text)
