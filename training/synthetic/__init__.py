"""A sample mine's CSV export generated from the documented physics (``python -m training.synthetic``).

Writes every file of the input contract (``training.schema``) into ``--data``. Master tables
already there (for example a copy of the reference export) are kept byte for byte and their
trucks, excavators, operators and roads are used. A folder without them gets the prototype's
fleet tables (``training.reference``, with their real ids, so the prototype's dashboard defaults
are valid); ``--generated-fleet`` invents a plausible fleet instead. The period ends at ``--end``
(default: now, at the last whole shift), and the vessel line-up runs on past it, so a planner
opening the dashboard today sees upcoming calls. The same seed and end give byte-identical files.
An existing ``hauling_activities.csv`` is only replaced with ``--force``.

Each 8-hour shift gets a weather from a Markov chain, each road the day's condition (worsened by
rain), each excavator a road and a group of trucks, and a small heap-based event simulation runs
the cycles: trucks queue FIFO for their excavator (queues emerge from the sharing), load, haul,
dump and return; breakdowns (MTBF/MTTR by age) and maintenance take units out of service (the
trucks of a broken excavator stand by until it is repaired); no cycle starts that cannot finish
inside the shift. A truck breakdown cancels the cycle it ends (status CANCELLED). Every number comes from
``training.ground_truth``; this module only organises the mine and writes the files. It does not
use SimPy: the simulator under test must not share an engine with the data it is checked on.

Timestamps are written in UTC at whole minutes (the contract's durations are whole minutes);
each duration is the difference of its two timestamps, so they agree exactly. The delay of a
cycle is the gap between loading end and departure. "Days since maintenance" follows
``training.features``: the latest COMPLETED log of the truck at or before the loading start.
Generated maintenance logs record every preventive service and breakdown repair; an existing
log is kept unchanged and is then the only maintenance record (repairs of simulated breakdowns
take the unit out of service but are not written).

The modules, along their seams: ``formats`` (the export's names, ids, timestamps and shifts),
``fleet`` (the units the mine runs and ``FleetPlan``), ``maintenance`` (downtime), ``events`` (the
event simulation), ``tables`` (the export's frames), ``build`` (all of it in memory), ``network``
(``--network``: the haul-network mine of ``training.synthetic_network`` with the same life, its
routes, records with loading and dumping points, and ``network.json``), ``writer`` (reading the
folder, ``generate``, writing the CSV files) and ``cli`` (the command; ``__main__`` runs it). Only what callers outside the package use is re-exported here.
"""
from training.synthetic.cli import main
from training.synthetic.fleet import FleetPlan
from training.synthetic.formats import HAULING_COLUMNS, HAULING_FILE
from training.synthetic.writer import GenerationSummary, copy_fleet_tables, generate, write_csv

__all__ = ["FleetPlan", "GenerationSummary", "HAULING_COLUMNS", "HAULING_FILE", "copy_fleet_tables", "generate", "main",
           "write_csv"]
