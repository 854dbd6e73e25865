"""Colours and text of every replay picture, in one place so the camera panel, the bird's-eye view
and the timeline agree (an actor is the same colour everywhere) and tests can look colours up.

Colours are OpenCV's BGR. The edge-case highlight is pure magenta: no class colour, map surface
or timeline curve uses it, and it is rare in street images, so a viewer (and a test) finds the
edge-case actor at a glance.
"""

from __future__ import annotations

import cv2
import numpy as np

Colour = tuple[int, int, int]

HIGHLIGHT: Colour = (255, 0, 255)  # the scenario's edge-case actors (role 'adversary')
EGO: Colour = (70, 200, 60)
CLASS_COLOURS: dict[str, Colour] = {
    "car": (235, 165, 60),
    "van": (205, 120, 35),
    "truck": (170, 85, 30),
    "bus": (150, 60, 120),
    "motorcycle": (40, 200, 245),
    "bicycle": (70, 225, 150),
    "pedestrian": (30, 140, 255),
    "prop": (60, 75, 200),
}
OTHER: Colour = (200, 200, 200)  # a class not listed above
LIGHT_COLOURS: dict[str, Colour] = {"Red": (40, 40, 235), "Yellow": (0, 210, 250), "Green": (60, 220, 60)}
BRAKE: Colour = (0, 0, 255)
TEXT: Colour = (235, 235, 235)
DIM_TEXT: Colour = (160, 160, 160)
PANEL_BG: Colour = (32, 30, 28)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def actor_colour(actor_class: str, role: str) -> Colour:
    """The colour an actor is drawn in: highlight for the edge case, green for the ego, else its class's."""
    if role == "adversary":
        return HIGHLIGHT
    if role == "ego":
        return EGO
    return CLASS_COLOURS.get(actor_class, OTHER)


def label(image: np.ndarray, text: str, x: float, y: float, colour: Colour, scale: float = 0.45) -> None:
    """Text with its bottom-left corner at (x, y) on a dark plate, readable over any background."""
    (w, h), base = cv2.getTextSize(text, FONT, scale, 1)
    x, y = int(round(x)), int(round(y))
    cv2.rectangle(image, (x - 2, y - h - 3), (x + w + 2, y + base), (20, 20, 20), cv2.FILLED)
    cv2.putText(image, text, (x, y), FONT, scale, colour, 1, cv2.LINE_AA)


def text(image: np.ndarray, value: str, x: int, y: int, colour: Colour = TEXT, scale: float = 0.5) -> None:
    """Plain anti-aliased text (panels, axes) with its baseline at y."""
    cv2.putText(image, value, (int(x), int(y)), FONT, scale, colour, 1, cv2.LINE_AA)
