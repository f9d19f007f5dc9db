"""Schedule maths (pure) and the adapters that fire schedules."""

from .fire_times import fire_times, iter_fire_times, wall_to_instant

__all__ = ["fire_times", "iter_fire_times", "wall_to_instant"]
