"""Simulator side of Mining Ops AI: the SimPy haulage model, scenario grid, economics, replication
statistics, ranking and the executors (see ARCHITECTURE.md). Imports ``training``, never ``api``.

Entry points: ``simulator.engine.run_request`` (a whole request), ``simulator.model.run_replication``
(one shift of one scenario) and ``python -m simulator SPEC.json``.
"""
