"""Server metadata as nova's /servers/{id}/metadata: read, merge (POST), replace (PUT) and
per key. Every write is checked against the project's metadata_items quota (per instance,
as nova counts it) before the one UPDATE that stores it, so nothing is half-written."""
from __future__ import annotations

from backend.core import db as dbm
from backend.core import quota
from backend.core.errors import NotFound
from backend.core.inputs import check_metadata


class ServerMetadata:
    """A part of ComputeAPI: self.db, self.store, self.config, _instance and _need_write are its."""

    def get_server_metadata(self, ctx, server_id) -> dict:
        return dbm.jload(self._instance(ctx, server_id)["metadata"], {})

    def get_server_metadata_item(self, ctx, server_id, key: str) -> str:
        meta = self.get_server_metadata(ctx, server_id)
        if key not in meta:
            raise NotFound("Metadata item was not found")
        return meta[key]

    def set_server_metadata(self, ctx, server_id, meta: dict, replace: bool) -> dict:
        """replace: the new metadata is exactly meta (PUT); else meta is merged in (POST)."""
        self._need_write(ctx)
        check_metadata(meta)
        with dbm.transaction(self.db):
            r = self._instance(ctx, server_id)
            new = dict(meta) if replace else {**dbm.jload(r["metadata"], {}), **meta}
            self._store_metadata(ctx, r, new)
        return new

    def set_server_metadata_item(self, ctx, server_id, key: str, value) -> dict:
        self._need_write(ctx)
        check_metadata({key: value}, "meta")
        with dbm.transaction(self.db):
            r = self._instance(ctx, server_id)
            self._store_metadata(ctx, r, {**dbm.jload(r["metadata"], {}), key: value})
        return {key: value}

    def delete_server_metadata_item(self, ctx, server_id, key: str) -> None:
        self._need_write(ctx)
        with dbm.transaction(self.db):
            r = self._instance(ctx, server_id)
            meta = dbm.jload(r["metadata"], {})
            if key not in meta:
                raise NotFound("Metadata item was not found")
            del meta[key]
            self.store.update(r["uuid"], metadata=dbm.jdump(meta))

    def _store_metadata(self, ctx, r: dict, new: dict) -> None:
        # per instance: the whole new set must fit the limit (nova's _check_metadata_properties_quota)
        quota.check(self.db, self.config, r["project_id"], {"metadata_items": len(new)}, "compute",
                    used={"metadata_items": 0})
        self.store.update(r["uuid"], metadata=dbm.jdump(new))
