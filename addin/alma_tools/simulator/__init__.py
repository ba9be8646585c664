"""A faithful loopback Alma for tests, benchmarks and the demo (no real Alma is reachable from here).

``Simulator(SimulatorConfig(...))`` serves the scan-in, item, barcode and loans endpoints of the Alma REST
API on ``127.0.0.1`` with Alma's error shapes, key checks, per-second threshold, daily quota, latency and
injected faults, as Ex Libris documents them; ``GET /_simulator/stats`` says what it saw.
"""

from alma_tools.simulator.server import FAULT_KINDS, HOSTILE_MODES, Simulator, SimulatorConfig
from alma_tools.simulator.state import HoldRequest, Item, Loan

__all__ = ["FAULT_KINDS", "HOSTILE_MODES", "HoldRequest", "Item", "Loan", "Simulator", "SimulatorConfig"]
