"""What tells the conductor a message is a second copy (mixed into ConductorManager).

The AMQP bus acks a message after its method ran, so a message whose server died before the
ack (a SIGKILLed process, a channel lost with the broker) is run again by the next consumer
of its queue: another conductor, or a compute host's process once it is back (docs/broker.md).
A second copy finds, in the database, what the first made: a state already saved, a failure
already counted, a build the host's queue still held after it went on elsewhere. These checks
read nothing more on the ordinary path: they look at the row a method reads anyway, or run
only on the paths a redelivery reaches (a state mismatch, a power action's event, a fault)."""
from __future__ import annotations

from backend.core import db as dbm
from backend.core import states


def reached(r: dict | None, updates) -> bool:
    """Whether the row already is where a sequence of state saves leads (each {'expected_task_state':
    ..., **values}): an earlier copy of the same step made them. No step moves a row from a state
    to that same state, so a first copy never finds its target already there."""
    if r is None or r["deleted"] or not updates:
        return False
    target = {}
    for u in updates:
        target.update({k: v for k, v in u.items() if k != "expected_task_state"})
    return saved(r, target)


def saved(r: dict, values: dict) -> bool:
    for k, v in values.items():
        if k == "launched":
            if v and not r["launched_at"]:
                return False
        elif k == "requested_networks" or k not in r:
            continue
        elif r[k] != v:
            return False
    return True


class Redelivered:
    """Needs self.db and self.store."""

    def _build_again(self, r, host, attempt, updates) -> dict | None:
        """A build cast the host's process runs a second time (its first run's process died
        before the ack, and the host's durable queue kept the cast). None: a claim as any.
        {'stale': why}: the build went on without it (ended, moved to another host, taken from
        its host, or a later attempt was cast): the copy does nothing, above all it releases
        nothing. {'cut': why}: the first copy claimed here and got past the claim, then died: a
        failed attempt (its cleanup, then the next alternate). The row itself: the first copy's
        claim trip was made (its reply lost): taken up as made."""
        if r is None or r["deleted"] or r["task_state"] == states.DELETING:
            return None  # refused by the claim as before: the build's cleanup finishes the delete
        uuid, tried = r["uuid"], len(dbm.jload(r["attempts"], []))
        if r["vm_state"] != states.BUILDING:
            return {"stale": f"instance {uuid} is no longer building ({r['vm_state']})"}
        if r["host"] not in (None, host):
            return {"stale": f"instance {uuid} is building on {r['host']}, not {host}"}
        if attempt is not None and attempt <= tried:
            return {"stale": f"attempt {attempt} of instance {uuid} failed already ({tried} failed)"}
        if r["host"] == host and reached(r, updates):
            return dict(r, requested_networks=dbm.jload(r["requested_networks"]))
        if r["task_state"] != states.SCHEDULING:
            if r["host"] is None:  # past scheduling with no host: taken from its host (lost)
                return {"stale": f"instance {uuid} was taken from its host in {r['task_state']}"}
            return {"cut": f"the build of instance {uuid} on {host} was cut in {r['task_state']}"
                           " (the compute process running it stopped)"}
        return None

    @staticmethod
    def _failure_counted(r, host, reason, attempt) -> bool:
        """Whether this build failure was counted by an earlier copy: its attempt (the number the
        build's cast carried) is among the recorded ones; without one, the last recorded attempt
        is this very failure."""
        attempts = dbm.jload(r["attempts"], [])
        if attempt is not None:
            return attempt <= len(attempts)
        return bool(attempts) and attempts[-1] == {"host": host, "reason": reason}

    def _event_open(self, ctx, uuid, event) -> bool:
        """Whether the request's action has this event open already (an earlier copy started it)."""
        aid = self.store._action_id(ctx, uuid)
        return aid is not None and dbm.row(
            self.db, "SELECT 1 x FROM instance_action_events WHERE action_id=? AND event=? AND finish_time IS NULL",
            (aid, event)) is not None

    def _fault_recorded(self, uuid, message, host) -> bool:
        """Whether the instance's latest fault is this one, recorded since its latest action
        began (an earlier copy's; the same failure of a later request is recorded again)."""
        f = dbm.row(self.db, "SELECT message, host, created_at FROM instance_faults WHERE instance_uuid=?"
                             " ORDER BY id DESC LIMIT 1", (uuid,))
        if f is None or f["message"] != message[:255] or f["host"] != host:
            return False
        a = dbm.row(self.db, "SELECT start_time FROM instance_actions WHERE instance_uuid=? ORDER BY id DESC"
                             " LIMIT 1", (uuid,))
        return a is None or f["created_at"] >= a["start_time"]
