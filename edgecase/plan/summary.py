"""A plan in a few lines a person can read: what `edgecase plan --summary` and `make demo` print."""

from __future__ import annotations

from edgecase.plan.model import ActorPlan, BehaviorPlan, EpisodePlan


def summarize(plan: EpisodePlan) -> str:
    lines = [
        f"scenario  {plan.scenario}  seed {plan.seed}  plan {plan.content_hash()[:16]}",
        f"map       {plan.map.source} ({plan.map.name})  {plan.duration_s:g} s at {plan.step_s:g} s/step  weather {plan.weather.preset}",
    ]
    if plan.params:
        lines.append("params    " + "  ".join(f"{k}={_fmt(v)}" for k, v in plan.params.items()))
    lines.append("actors")
    lines += ["  " + _actor(a) for a in plan.actors]
    if plan.criticality:
        c = plan.criticality
        solved = "  ".join(f"{k}={v:.2f}" for k, v in c.solved.items())
        lines.append(f"criticality {c.kind} {c.actors[0]} / {c.actors[1]}: target {c.target_s:.2f} s; solved {solved}")
    for expect in plan.expect:
        lines.append(f"expect    {expect}")
    return "\n".join(lines)


def _actor(a: ActorPlan) -> str:
    where = f"road {a.lane.road_id} lane {a.lane.lane_id} s={a.lane.s_m:.1f} ({a.lane.kind})" if a.lane else "off-road"
    steps = " -> ".join(_step(b) for b in a.behaviors) or "static"
    return (
        f"{a.id:>2} {a.name:<12} {a.role:<10} {a.blueprint:<34} "
        f"x={a.pose.x_m:8.2f} y={a.pose.y_m:8.2f} yaw={a.pose.yaw_deg:7.1f}  {where}  {a.speed_mps:.1f} m/s  {steps}"
    )


def _step(b: BehaviorPlan) -> str:
    if b.trigger is None:
        return b.name
    t = b.trigger
    if t.kind == "after_s":
        return f"{b.name}@{t.after_s:.2f}s"
    return f"{b.name}@{t.kind}"


def _fmt(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
