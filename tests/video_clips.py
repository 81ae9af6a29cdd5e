"""Clips the people tests share (a module of its own so test files can import it by name)."""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data


def write_comings_and_goings(path, side: int = 320) -> None:
    """The astronaut for 1 s on the left, 3 s away, 1 s on the right, 3 s away, 1 s on the left:
    three tracks (each gap is longer than the tracker bridges), one person."""
    head = cv2.cvtColor(data.astronaut()[0:300, 75:375], cv2.COLOR_RGB2BGR)  # the face, 120 px in 300
    face = cv2.resize(head, (side // 2 + 40, side // 2 + 40))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 4.0, (side * 2, side))
    for second in range(9):
        for _ in range(4):
            frame = np.full((side, side * 2, 3), 90, np.uint8)
            if second in (0, 8):
                frame[40:40 + face.shape[0], 20:20 + face.shape[1]] = face
            elif second == 4:
                frame[60:60 + face.shape[0], side + 100:side + 100 + face.shape[1]] = face
            writer.write(frame)
    writer.release()


def cameraman_face(side: int) -> np.ndarray:
    """The cameraman photo's head (a man's face, grey), ``side`` pixels a side, as BGR."""
    head = cv2.resize(data.camera()[40:200, 180:340], (side, side), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(head, cv2.COLOR_GRAY2BGR)


# (person, first second, last second, left or right): each comes three times, once both together.
TWO_PEOPLE = [("astronaut", 0.0, 1.5, 0), ("cameraman", 2.0, 3.5, 1), ("astronaut", 5.0, 6.5, 1),
              ("cameraman", 5.0, 6.5, 0), ("astronaut", 9.0, 10.5, 0), ("cameraman", 12.0, 13.5, 1)]


def write_two_people_coming_and_going(path, side: int = 320, fps: float = 4.0) -> None:
    """The astronaut and the cameraman, each leaving and coming back twice (:data:`TWO_PEOPLE`):
    six tracks, two people."""
    astronaut = cv2.cvtColor(data.astronaut()[0:300, 75:375], cv2.COLOR_RGB2BGR)
    faces = {"astronaut": cv2.resize(astronaut, (240, 240)), "cameraman": cameraman_face(240)}
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (side * 2, side))
    for index in range(int(14 * fps)):
        frame = np.full((side, side * 2, 3), 90, np.uint8)
        for who, start, end, place in TWO_PEOPLE:
            if start <= index / fps < end:
                frame[40:280, 40 + place * side:280 + place * side] = faces[who]
        writer.write(frame)
    writer.release()


def grace_hopper_face(side: int) -> np.ndarray:
    """Grace Hopper's portrait from matplotlib's sample data (a third person), ``side`` pixels a
    side, as BGR."""
    import matplotlib.cbook

    portrait = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return cv2.resize(portrait[60:400, 95:435], (side, side), interpolation=cv2.INTER_AREA)


# (person, place: left or right, side in pixels): one after another, never two at once, each
# 1.5 s with 2 s between; each person comes three times, at two places and three sizes.
THREE_PEOPLE = [("astronaut", 0, 220), ("cameraman", 1, 250), ("hopper", 0, 240),
                ("cameraman", 1, 240), ("astronaut", 0, 180), ("hopper", 1, 200),
                ("hopper", 0, 180), ("astronaut", 1, 240), ("cameraman", 0, 260)]


def write_three_people_taking_turns(path, fps: float = 4.0) -> None:
    """Three people who each leave and come back twice, taking turns (:data:`THREE_PEOPLE`):
    nine tracks, three people, told apart by appearance alone."""
    astronaut = cv2.cvtColor(data.astronaut()[0:300, 75:375], cv2.COLOR_RGB2BGR)
    makers = {"astronaut": lambda side: cv2.resize(astronaut, (side, side), interpolation=cv2.INTER_AREA),
              "cameraman": cameraman_face, "hopper": grace_hopper_face}
    width, height, stay, gap = 640, 300, 1.5, 2.0
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for index in range(int(len(THREE_PEOPLE) * (stay + gap) * fps)):
        frame = np.full((height, width, 3), 90, np.uint8)
        turn, into = divmod(index / fps, stay + gap)
        if into < stay:
            who, place, side = THREE_PEOPLE[int(turn)]
            left, top = 20 + place * (width // 2), (height - side) // 2
            frame[top:top + side, left:left + side] = makers[who](side)
        writer.write(frame)
    writer.release()
