"""Technician operations of the Redis state store: upsert, availability, location pings,
reads, lists, removal."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from dispatcher.backend.cluster import call_script_batch
from dispatcher.domain import (
    Location,
    Page,
    Shift,
    Technician,
    TechnicianStatus,
)
from dispatcher.errors import (
    FailedPrecondition,
    StaleVersion,
    UnknownTechnician,
)
from dispatcher.store import keys
from dispatcher.store.codec import (
    pairs_to_dict,
    shifts_json,
    technician_body,
    technician_from_hash,
)
from dispatcher.store.outcomes import ScriptReply

if TYPE_CHECKING:
    from collections.abc import Sequence


from dispatcher.store.base import StoreBase, decode_page_token, encode_page_token


class TechnicianStore(StoreBase):
    """Technicians: profile and availability changes are versioned and evented; pings are not."""

    # --- technicians ----------------------------------------------------------------------

    async def upsert_technician(
        self, tenant: str, tech: Technician, expected_version: int = 0
    ) -> Technician:
        """Create or replace a technician (region immutable; capacity >= tickets held)."""
        await self._remember_tenant(tenant)
        claimed = await self._claim(
            keys=[keys.technician_region_key(tenant), keys.regions_key(tenant)],
            args=[tech.region, tech.technician_id],
        )
        if claimed[0]:
            exists = await self._r.exists(
                keys.technician_key(tenant, claimed[0], tech.technician_id)
            )
            if exists:
                raise FailedPrecondition(
                    f"technician {tech.technician_id!r} is in region {claimed[0]!r}; "
                    "remove it before re-creating it in another region"
                )
            # a stale claim (removed technician): take the id over
            take_over = (
                "HSET",
                keys.technician_region_key(tenant),
                tech.technician_id,
                tech.region,
            )
            if self.replication.replicas > 0:
                await self._write(take_over)
            else:
                await self._r.hset(*take_over[1:])
        ks, args = self._common(tenant, tech.region)
        loc = tech.location
        args += [
            tech.technician_id,
            expected_version,
            technician_body(tech),
            tech.status.value,
            tech.capacity,
            shifts_json(tech.shifts),
            repr(loc.lat_deg) if loc else "",
            repr(loc.lon_deg) if loc else "",
        ]
        reply = await self._upsert_tech(keys=ks, args=args)
        if reply[0] == ScriptReply.ABORTED:
            self._conflict("version")
            raise StaleVersion(
                f"technician {tech.technician_id!r} is at version {reply[1]}"
            )
        if reply[0] == ScriptReply.CAPACITY:
            raise FailedPrecondition(
                f"technician {tech.technician_id!r} holds {reply[1]} open tickets, more than capacity {tech.capacity}"
            )
        self._published(1)
        return technician_from_hash(pairs_to_dict(reply[1]), reply[2])

    async def set_availability(
        self,
        tenant: str,
        technician_id: str,
        status: TechnicianStatus | None,
        shifts: Sequence[Shift] | None,
        expected_version: int = 0,
    ) -> Technician:
        region = await self.technician_region(tenant, technician_id)
        ks, args = self._common(tenant, region)
        args += [
            technician_id,
            expected_version,
            status.value if status else "",
            shifts_json(shifts) if shifts is not None else "",
        ]
        reply = await self._availability(keys=ks, args=args)
        if reply[0] == ScriptReply.NOT_FOUND:
            raise UnknownTechnician(f"technician {technician_id!r} not found")
        if reply[0] == ScriptReply.ABORTED:
            self._conflict("version")
            raise StaleVersion(f"technician {technician_id!r} is at version {reply[1]}")
        self._published(1)
        return technician_from_hash(pairs_to_dict(reply[1]), reply[2])

    async def report_locations(
        self, tenant: str, pings: Sequence[tuple[str, Location, int]]
    ) -> list[bool]:
        """Store pings ``(technician_id, location, measured_at_ms)``; False = older, ignored."""
        regions = {}
        for tech_id, _, _ in pings:
            if tech_id not in regions:
                regions[tech_id] = await self.technician_region(tenant, tech_id)
        # one pipeline on a single server; concurrent calls on a cluster (no EVALSHA in a
        # cluster pipeline), see dispatcher.backend.cluster.call_script_batch
        replies = await call_script_batch(
            self.redis,  # the client itself: it checks for a cluster client
            self._location,
            [
                (
                    [
                        keys.technician_key(tenant, regions[tech_id], tech_id),
                        keys.located_key(tenant, regions[tech_id]),
                    ],
                    [repr(loc.lat_deg), repr(loc.lon_deg), at_ms, tech_id],
                )
                for tech_id, loc, at_ms in pings
            ],
        )
        out = []
        for (tech_id, _, _), r in zip(pings, replies, strict=True):
            if int(r) < 0:
                raise UnknownTechnician(f"technician {tech_id!r} not found")
            out.append(int(r) == 1)
        return out

    async def get_technician(self, tenant: str, technician_id: str) -> Technician:
        region = await self.technician_region(tenant, technician_id)
        pipe = self._r.pipeline(transaction=False)
        pipe.hgetall(keys.technician_key(tenant, region, technician_id))
        pipe.zrange(keys.technician_queue_key(tenant, region, technician_id), 0, -1)
        h, queue = await pipe.execute()
        if not h:
            raise UnknownTechnician(f"technician {technician_id!r} not found")
        return technician_from_hash(h, queue)

    async def list_technicians(
        self,
        tenant: str,
        region: str,
        statuses: Sequence[TechnicianStatus],
        page_size: int,
        page_token: str = "",
    ) -> Page[Technician]:
        fp = hashlib.sha256(repr((region, sorted(statuses))).encode()).hexdigest()[:16]
        start_region, after = "", ""
        if page_token:
            tok = decode_page_token(page_token, fp)
            start_region, after = str(tok.get("r", "")), str(tok.get("a", ""))
        regions = [region] if region else await self.regions(tenant)
        out: list[Technician] = []
        wanted = set(statuses)
        for reg in (r for r in regions if r >= start_region):
            cursor = after if reg == start_region else ""
            prefix = keys.region_prefix(tenant, reg)
            lo = f"({cursor}" if cursor else "-"
            ids = await self._r.zrangebylex(prefix + keys.TECHS_ALL, lo, "+")
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                pipe = self._r.pipeline(transaction=False)
                for tid in chunk:
                    pipe.hgetall(prefix + keys.TECH + tid)
                    pipe.zrange(prefix + keys.TECH_QUEUE + tid, 0, -1)
                replies = await pipe.execute()
                for k, tid in enumerate(chunk):
                    h, queue = replies[2 * k], replies[2 * k + 1]
                    if not h:
                        continue
                    t = technician_from_hash(h, queue)
                    if wanted and t.status not in wanted:
                        continue
                    out.append(t)
                    if len(out) >= page_size:
                        return Page(
                            tuple(out), encode_page_token({"r": reg, "a": tid, "f": fp})
                        )
        return Page(tuple(out), "")

    async def remove_technician(
        self, tenant: str, technician_id: str, expected_version: int = 0
    ) -> list[str]:
        """Delete a technician; its ASSIGNED tickets return to QUEUED (their ids returned)."""
        region = await self.technician_region(tenant, technician_id)
        ks, args = self._common(tenant, region)
        args += [technician_id, expected_version]
        reply = await self._remove_tech(keys=ks, args=args)
        if reply[0] == ScriptReply.NOT_FOUND:
            raise UnknownTechnician(f"technician {technician_id!r} not found")
        if reply[0] == ScriptReply.ABORTED:
            self._conflict("version")
            raise StaleVersion(f"technician {technician_id!r} is at version {reply[1]}")
        if reply[0] == ScriptReply.BUSY:
            raise FailedPrecondition(
                f"technician {technician_id!r} holds ticket {reply[1]!r} in status {reply[2]}; "
                "it must be completed, declined or cancelled first"
            )
        self._published(1 + len(reply[1]))
        await self._r.hdel(keys.technician_region_key(tenant), technician_id)
        return [str(t) for t in reply[1]]
