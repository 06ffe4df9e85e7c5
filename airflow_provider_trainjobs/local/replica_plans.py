"""Which replicas a run starts and the 127.0.0.1 addresses they find each other at.

An ml v1 tier (or CUSTOM counts) or the Vertex worker pools become ``ReplicaPlan``s, capped to the
service's ``--max-replicas`` with a log line saying what was dropped; ``cluster_spec`` and
``vertex_cluster_specs`` give each replica a free local port for TF_CONFIG / CLUSTER_SPEC.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

__all__ = ["ReplicaPlan", "cluster_spec", "plan_job", "plan_replicas", "plan_vertex_replicas", "vertex_cluster_specs"]

# Replica counts the cloud's predefined tiers stand for (workers, parameter servers).
_TIERS: dict[str, tuple[int, int]] = {"STANDARD_1": (4, 3), "PREMIUM_1": (19, 11)}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ReplicaPlan:
    """One replica to start: its TF_CONFIG task type (``master``/``chief``/``worker``/``ps``/``evaluator``)."""

    task_type: str
    index: int
    pool: int | None = None  # Vertex worker pool index (None for ml v1 jobs)

    @property
    def task_name(self) -> str:
        if self.pool is not None:
            return f"workerpool{self.pool}-{self.index}"
        kind = {"chief": "master", "ps": "ps"}.get(self.task_type, self.task_type)
        return f"{kind}-replica-{self.index}"


def plan_replicas(training: dict[str, Any], max_replicas: int) -> tuple[list[ReplicaPlan], str | None]:
    """The replicas a tier asks for, capped to ``max_replicas``; the second value is the cap's log line."""
    tier = training.get("scaleTier", "BASIC")
    if tier == "CUSTOM":
        workers = int(training.get("workerCount") or 0)
        ps = int(training.get("parameterServerCount") or 0)
        evaluators = int(training.get("evaluatorCount") or 0)
    else:
        workers, ps = _TIERS.get(tier, (0, 0))
        evaluators = 0
    primary = "chief" if training.get("useChiefInTfConfig") else "master"
    asked = 1 + workers + ps + evaluators
    note = None
    budget = max(1, max_replicas)
    if asked > budget:
        # One parameter server and one evaluator first (when asked for and room is left), then workers,
        # then more parameter servers and evaluators.
        room = budget - 1
        ps_kept = min(ps, 1, room)
        room -= ps_kept
        evaluators_kept = min(evaluators, 1, room)
        room -= evaluators_kept
        workers_kept = min(workers, room)
        room -= workers_kept
        more_ps = min(ps - ps_kept, room)
        ps_kept += more_ps
        room -= more_ps
        evaluators_kept += min(evaluators - evaluators_kept, room)
        note = (
            f"The job asks for {asked} replicas ({workers} workers, {ps} parameter servers, {evaluators} evaluators);"
            f" this service runs at most {budget} (--max-replicas): starting {workers_kept} workers,"
            f" {ps_kept} parameter servers, {evaluators_kept} evaluators."
        )
        workers, ps, evaluators = workers_kept, ps_kept, evaluators_kept
    plans = [ReplicaPlan(primary, 0)]
    plans += [ReplicaPlan("worker", i) for i in range(workers)]
    plans += [ReplicaPlan("ps", i) for i in range(ps)]
    plans += [ReplicaPlan("evaluator", i) for i in range(evaluators)]
    return plans, note


def plan_vertex_replicas(vertex: dict[str, Any], max_replicas: int) -> tuple[list[ReplicaPlan], str | None]:
    """Vertex worker pools as replicas (pool 0 chief, 1 workers, 2 ps, 3 evaluators), capped like plan_replicas."""
    types = ("chief", "worker", "ps", "evaluator")
    asked = [(pool["index"], int(pool["replicaCount"])) for pool in vertex["pools"]]
    total = sum(count for _, count in asked)
    room = max(1, max_replicas)
    plans: list[ReplicaPlan] = []
    kept: list[str] = []
    for pool, count in asked:
        keep = min(count, room)
        room -= keep
        plans += [ReplicaPlan(types[pool], i, pool) for i in range(keep)]
        kept.append(f"workerpool{pool}: {keep} of {count}")
    note = None
    if total > max(1, max_replicas):
        note = (f"The job asks for {total} replicas; this service runs at most {max(1, max_replicas)}"
                f" (--max-replicas): starting {', '.join(kept)}.")
    return plans, note


def plan_job(job: dict[str, Any], max_replicas: int) -> tuple[list[ReplicaPlan], str | None]:
    """The replicas of an engine job record: its Vertex worker pools, or its ml v1 tier."""
    if job.get("vertex"):
        return plan_vertex_replicas(job["vertex"], max_replicas)
    return plan_replicas(job["trainingInput"], max_replicas)


def cluster_spec(plans: list[ReplicaPlan]) -> dict[str, list[str]]:
    """Free 127.0.0.1 ports for every replica except evaluators (never part of the cluster)."""
    cluster: dict[str, list[str]] = {}
    for plan in plans:
        if plan.task_type != "evaluator":
            cluster.setdefault(plan.task_type, []).append(f"127.0.0.1:{_free_port()}")
    return cluster


def vertex_cluster_specs(plans: list[ReplicaPlan]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(TF_CONFIG cluster by chief/worker/ps, CLUSTER_SPEC cluster by workerpoolN), one address per replica."""
    tf_cluster: dict[str, list[str]] = {}
    pools: dict[str, list[str]] = {}
    for plan in plans:
        address = f"127.0.0.1:{_free_port()}"
        pools.setdefault(f"workerpool{plan.pool}", []).append(address)
        if plan.task_type != "evaluator":
            tf_cluster.setdefault(plan.task_type, []).append(address)
    return tf_cluster, pools
