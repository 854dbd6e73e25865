"""One actor's steps in order: which behavior drives it now, and when the next one starts.

The rules (docs/scenario-language.md): a step with a trigger starts when the trigger holds, plus
its delay_s, cutting short whatever runs; a step without one starts when the previous step ends;
the first step without one starts at t = 0. A step ends when its manoeuvre is done. After the
last step ends its behavior keeps deciding (a stopped car stays stopped). Before the first step,
a moving vehicle cruises its lane and everyone else stands.

Events: 'trigger' when a step's trigger holds, 'behavior_start' and 'behavior_end' (detail: the
behavior's name) at the tick each happens. A time-triggered step whose behavior needs a run-up
(Behavior.lead_s, a crossing walker) starts driving the actor that much earlier; its events
still fall at the trigger's tick.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableSet

from edgecase.plan.model import BehaviorPlan
from edgecase.sim.behaviors.base import ActorInfo, Behavior, Intent, Now, Scene
from edgecase.sim.trace import Event
from edgecase.sim.triggers import TIME_EPS_S, holds, nominal_start_s


class Sequence:
    """The state machine of one actor's steps (the rules in the module docstring)."""

    def __init__(self, actor: ActorInfo, scene: Scene, registry: Mapping[str, type[Behavior]], implicit: Behavior):
        self.actor, self.scene, self.registry = actor, scene, registry
        self.steps: tuple[BehaviorPlan, ...] = actor.plan.behaviors
        self.next = 0  # the step waiting to start
        self.current: Behavior | None = None  # the step that started last
        self.ended = False  # whether `current` has ended
        self.fired_t_s: float | None = None  # when the waiting step's trigger held
        self.driver: Behavior = implicit  # whose intent moves the actor now
        self.last_intent: Intent | None = None

    def advance(self, now: Now, seen: MutableSet[str]) -> list[Event]:
        """Start and end steps at this tick; `seen` gathers 'actor.behavior.start|end' for event triggers."""
        events: list[Event] = []
        while self._advance_once(now, seen, events):
            pass
        return events

    def intent(self, now: Now) -> Intent:
        self.last_intent = self.driver(now)
        return self.last_intent

    def _advance_once(self, now: Now, seen: MutableSet[str], events: list[Event]) -> bool:
        if self.current is not None and not self.ended:
            self.current.ensure_begun(now)  # `done` may need the set-up (a path, a length)
            if self.current.done(now):
                self._end(now, True, seen, events)
                return True
        if self.next >= len(self.steps):
            return False
        step = self.steps[self.next]
        if step.trigger is None:
            if self.next == 0 or self.ended:
                self._start(now, now.t_s, seen, events)
                return True
            return False
        if self.fired_t_s is None:
            self._anticipate(now, step)
            if not holds(step.trigger, self.actor.row, now.state, self.scene.rows, seen):
                return False
            self.fired_t_s = now.t_s
            events.append(Event(now.tick, now.t_s, "trigger", self.actor.name, step.name))
        start_s = nominal_start_s(step.trigger, self.fired_t_s)
        if now.t_s + TIME_EPS_S < self.fired_t_s + step.trigger.delay_s:
            return False
        if self.current is not None and not self.ended:
            self._end(now, False, seen, events)
        self._start(now, start_s, seen, events)
        return True

    def _anticipate(self, now: Now, step: BehaviorPlan) -> None:
        """Hand the actor to a time-triggered step early by its lead (see the module docstring)."""
        if step.trigger.kind != "after_s" or self._early() is not None:
            return
        cls = self.registry[step.name]
        start_s = nominal_start_s(step.trigger, step.trigger.after_s)
        lead = cls.lead_s(step.params, self.actor)
        if lead > 0 and now.t_s + TIME_EPS_S >= start_s - lead:
            self.driver = cls(step.params, self.actor, self.scene, start_s, self.last_intent)
            self.driver.early = True

    def _early(self) -> Behavior | None:
        """The waiting step's behavior, if it already drives the actor."""
        return self.driver if self.driver.early and self.driver is not self.current else None

    def _start(self, now: Now, start_s: float, seen: MutableSet[str], events: list[Event]) -> None:
        step = self.steps[self.next]
        behavior = self._early() or self.registry[step.name](step.params, self.actor, self.scene, start_s, self.last_intent)
        self.current = self.driver = behavior
        self.ended = False
        self.next += 1
        self.fired_t_s = None
        seen.add(f"{self.actor.name}.{step.name}.start")
        events.append(Event(now.tick, now.t_s, "behavior_start", self.actor.name, step.name))

    def _end(self, now: Now, completed: bool, seen: MutableSet[str], events: list[Event]) -> None:
        assert self.current is not None
        self.current.ensure_begun(now)
        self.current.finish(now, completed)
        self.ended = True
        seen.add(f"{self.actor.name}.{self.current.name}.end")
        events.append(Event(now.tick, now.t_s, "behavior_end", self.actor.name, self.current.name))
