"""One command's stop button (connection/interrupt.py): pressed at any moment, it stops that command once."""

from k8sboot.connection.interrupt import Interrupt


def test_pressed_while_armed_stops_once():
    stops: list[str] = []
    i = Interrupt()
    i.arm(lambda: stops.append("a"))
    i.press()
    i.press()
    assert stops == ["a"] and i.pressed


def test_pressed_before_the_command_started_stops_it_as_it_starts():
    stops: list[str] = []
    i = Interrupt()
    i.press()
    assert stops == []
    i.arm(lambda: stops.append("a"))
    assert stops == ["a"]


def test_pressed_after_the_command_ended_stops_nothing():
    stops: list[str] = []
    i = Interrupt()
    i.arm(lambda: stops.append("a"))
    i.disarm()
    i.press()
    assert stops == [] and i.pressed


def test_the_stop_runs_outside_the_lock_so_it_may_disarm():
    i = Interrupt()
    i.arm(i.disarm)  # a stop that ends the command, whose loop then disarms: no deadlock
    i.press()
    assert i.pressed
