"""Redis key layout, prefixes and TTLs of the live state (Redis Cluster-ready).

Every key of a region carries the hash tag ``{tenant:region}``, so every multi-key atomic
operation of that region (a submit, a lifecycle transition, a fenced solve commit, with its
event appended to the region's stream) runs in one hash slot. Tenant-wide lookups (which
region holds a ticket / technician id, the region list, known asset locations, policies)
carry the tag ``{tenant}``; they are single-key operations, done before or after the
region's atomic step, never inside it.

Tenant and region names are validated (``validation.NAME_RE``) to contain no ``{``, ``}``
or ``:``, so the tags cannot collide.
"""

from __future__ import annotations

KEY_PREFIX = "dispatch:"

TENANTS_KEY = KEY_PREFIX + "tenants"
"""Set of every tenant that ever wrote (for metrics refresh); single key, own slot."""

SOLVER_REGISTRY_KEY = KEY_PREFIX + "solvers:live"
"""Sorted set of live solver processes: member = process id, score = heartbeat expiry (ms,
Redis clock); single key, own slot. Steers the fair share of leases, never safety."""

REQUEST_ID_TTL_S = 24 * 3600
"""How long a submit's request id is remembered for idempotent retries."""

EVENTS_MAXLEN_DEFAULT = 100_000
"""Default length cap of each region's event stream; the oldest events beyond it are
dropped in steps of ``min(1000, maxlen / 10)`` (see ``store.lua``)."""


def region_tag(tenant: str, region: str) -> str:
    """The hash tag shared by every key of one region."""
    return "{" + tenant + ":" + region + "}"


def region_prefix(tenant: str, region: str) -> str:
    """Prefix of every key of one region; Lua scripts append the suffixes below."""
    return KEY_PREFIX + region_tag(tenant, region) + ":"


def tenant_prefix(tenant: str) -> str:
    """Prefix of the tenant-wide keys."""
    return KEY_PREFIX + "{" + tenant + "}:"


# --- region keys (suffixes after region_prefix; the Lua scripts use the same strings) -----

TICKET = "ticket:"
"""Hash per ticket: body (JSON), status, version, tech, asg, prio, due, ... (see store)."""
CLOSED = "closed"
"""Sorted set: closed (RESOLVED / CANCELLED) ticket ids scored by closed_at_ms; the
retention sweep (``dispatcher.store.retention``) deletes the oldest."""
TICKETS_ALL = "tickets"
"""Sorted set, score 0, every ticket id of the region (lexicographic listing)."""
STATUS_PRIO = "s:"
"""Sorted sets ``s:<STATUS>:<priority>`` of open tickets scored by created_at_ms; their
union is the region's open tickets (the solve snapshot)."""
DUE = "due:"
"""Sorted sets ``due:<priority>``: not-started tickets scored by response_due_ms."""
TECH = "tech:"
"""Hash per technician: body (JSON), status, version, cap, lat, lon, loc_ms, shifts."""
TECH_QUEUE = "techq:"
"""Sorted set per technician: held open ticket ids scored by queue position."""
TECHS_ALL = "techs"
"""Sorted set, score 0, every technician id of the region."""
EVENTS = "events"
"""The region's event stream (Redis Stream)."""
EVENTS_TRIMMED = "events_trimmed"
"""String: the id of the newest event dropped by retention (resuming before it = gap)."""
REQUEST = "req:"
"""String per submit request id -> ``ticket_id`` (TTL ``REQUEST_ID_TTL_S``)."""
LEASE = "lease"
"""The region's solve lease: ``SET key token NX PX ttl`` (owned by the solve loop)."""
LEASE_OWNER = "lease_owner"
"""String: who holds the lease (process id)."""
LEASE_SEQ = "lease_seq"
"""Counter the lease's fencing tokens are drawn from."""
SLA_MARKS = "slamarks"
"""Hash ticket id -> JSON of the SLA marks already signalled."""
MOVING = "moving"
"""Set of ticket ids moved out of the region (``dispatcher.store.moves`` step 1), not yet
finished."""
LOCATED = "located"
"""Set of technician ids whose location a ping changed (pings append no event) since the
region's lease holder last read it (``dispatcher.store.feed``)."""
MODEL_READ = "model_read"
"""String: a random mark the region's lease holder writes with each read of its region
model; the next read finds it there unless a failover lost that read's writes, and with
them maybe what it read (``dispatcher.store.feed``)."""

REGION_SUFFIXES = {
    "TICKET": TICKET,
    "CLOSED": CLOSED,
    "TICKETS_ALL": TICKETS_ALL,
    "STATUS_PRIO": STATUS_PRIO,
    "DUE": DUE,
    "TECH": TECH,
    "TECH_QUEUE": TECH_QUEUE,
    "TECHS_ALL": TECHS_ALL,
    "EVENTS": EVENTS,
    "EVENTS_TRIMMED": EVENTS_TRIMMED,
    "REQUEST": REQUEST,
    "LEASE": LEASE,
    "LEASE_OWNER": LEASE_OWNER,
    "LEASE_SEQ": LEASE_SEQ,
    "SLA_MARKS": SLA_MARKS,
    "MOVING": MOVING,
    "LOCATED": LOCATED,
    "MODEL_READ": MODEL_READ,
}
"""Every region key suffix by name: the Lua scripts get them as the table ``K``
(``dispatcher.store.lua.NAMES``), so ``P .. K.TICKET .. id`` there is ``ticket_key`` here."""


def ticket_key(tenant: str, region: str, ticket_id: str) -> str:
    return region_prefix(tenant, region) + TICKET + ticket_id


def technician_key(tenant: str, region: str, technician_id: str) -> str:
    return region_prefix(tenant, region) + TECH + technician_id


def technician_queue_key(tenant: str, region: str, technician_id: str) -> str:
    return region_prefix(tenant, region) + TECH_QUEUE + technician_id


def located_key(tenant: str, region: str) -> str:
    """Technicians whose location changed since the region feed last read (``LOCATED``)."""
    return region_prefix(tenant, region) + LOCATED


def model_read_key(tenant: str, region: str) -> str:
    """The mark of the lease holder's last region model read (``MODEL_READ``)."""
    return region_prefix(tenant, region) + MODEL_READ


def request_key(tenant: str, region: str, request_id: str) -> str:
    """A submit's request id reservation (``REQUEST``)."""
    return region_prefix(tenant, region) + REQUEST + request_id


def events_key(tenant: str, region: str) -> str:
    """The region's event stream."""
    return region_prefix(tenant, region) + EVENTS


def events_trimmed_key(tenant: str, region: str) -> str:
    return region_prefix(tenant, region) + EVENTS_TRIMMED


def lease_key(tenant: str, region: str) -> str:
    """The current fencing token of the region's lease (string with a PX TTL); the fenced
    commits compare their token with it."""
    return region_prefix(tenant, region) + LEASE


def lease_owner_key(tenant: str, region: str) -> str:
    """Who holds the lease (process id; informational, expires with the lease)."""
    return region_prefix(tenant, region) + LEASE_OWNER


def lease_counter_key(tenant: str, region: str) -> str:
    """Monotonic counter the fencing tokens are drawn from (never expires)."""
    return region_prefix(tenant, region) + LEASE_SEQ


def duplicate_geo_key(tenant: str, region: str, category: str) -> str:
    """GEO set: open tickets of a category by location (duplicate detection)."""
    return region_prefix(tenant, region) + "dup:geo:" + category


def duplicate_time_key(tenant: str, region: str, category: str) -> str:
    """Sorted set: open tickets of a category by submit time (duplicate detection)."""
    return region_prefix(tenant, region) + "dup:time:" + category


def duplicate_asset_key(tenant: str, region: str) -> str:
    """Hash asset_id -> the open ticket registered for it (duplicate detection)."""
    return region_prefix(tenant, region) + "dup:asset"


def sla_marks_key(tenant: str, region: str) -> str:
    return region_prefix(tenant, region) + SLA_MARKS


def moving_key(tenant: str, region: str) -> str:
    return region_prefix(tenant, region) + MOVING


# --- tenant keys ------------------------------------------------------------------------


def ticket_region_key(tenant: str) -> str:
    """Hash ticket_id -> region: claims a ticket id tenant-wide before the region write."""
    return tenant_prefix(tenant) + "ticket_region"


def technician_region_key(tenant: str) -> str:
    """Hash technician_id -> region."""
    return tenant_prefix(tenant) + "tech_region"


def regions_key(tenant: str) -> str:
    """Set of the tenant's regions."""
    return tenant_prefix(tenant) + "regions"


def assets_key(tenant: str) -> str:
    """Hash asset_id -> ``"lat,lon"`` learned from tickets that carried both."""
    return tenant_prefix(tenant) + "assets"


def policy_key(tenant: str, scope: str) -> str:
    """String: the current policy record (JSON) of the tenant (``scope`` "") or a region."""
    return tenant_prefix(tenant) + "policy:" + (scope or "_tenant")


def policy_history_key(tenant: str, scope: str) -> str:
    """List: every stored policy record of a scope, oldest first (capped)."""
    return policy_key(tenant, scope) + ":history"


# --- outbound webhooks (dispatcher.store.webhooks) -----------------------------------------

WEBHOOK_TENANTS_KEY = KEY_PREFIX + "webhook_tenants"
"""Set of the tenants that have (or had) webhook subscriptions; single key, own slot."""

WEBHOOK_GROUP_PREFIX = "wh:"
"""Consumer group of a subscription on each stream it reads: ``wh:<subscription id>``."""


def webhook_subscriptions_key(tenant: str) -> str:
    """Hash subscription id -> subscription JSON (secret included)."""
    return tenant_prefix(tenant) + "wh:subs"


def webhook_dead_letters_key(tenant: str, subscription_id: str) -> str:
    """Stream: the subscription's dead letters, oldest first (entry id = dead letter id)."""
    return tenant_prefix(tenant) + "wh:dead:" + subscription_id


def webhook_replay_key(tenant: str, subscription_id: str) -> str:
    """Stream: dead letters queued for delivery again (read by the subscription's group)."""
    return tenant_prefix(tenant) + "wh:replay:" + subscription_id


def webhook_lease_key(stream_key: str, subscription_id: str) -> str:
    """String: the process delivering one stream to one subscription (``SET NX PX``); in
    the stream's slot."""
    return stream_key + ":whlease:" + subscription_id
