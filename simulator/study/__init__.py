"""Fleet-size studies over large grids, streamed to Parquet and resumable (``python -m simulator.study``).

The modules, along their seams:

* ``spec``: the study spec (the strategies request with ranges and a weather sweep) parsed into ``StudySpec``;
* ``rows``: a scenario summary as one flat result row, and back (pure);
* ``storage``: the spec file and the study's folder (atomic batch files, the lock);
* ``progress``: the bar or the periodic lines on stderr;
* ``runner``: ``run_study``, batches on the executor, each committed as it finishes;
* ``report``: ``StudyResult``, the ranked summary, ``summary.csv|json`` and the closing table;
* ``cli``: the command line (``__main__`` runs it).

Only what callers outside the package use is re-exported here.
"""
from simulator.study.cli import EXIT_INTERRUPTED, main
from simulator.study.progress import Progress
from simulator.study.report import StudyResult, format_summary, ranked_summary
from simulator.study.rows import summary_row
from simulator.study.runner import BatchReport, StudyInterrupted, run_study
from simulator.study.spec import StudyScenario, StudySpec, parse_study
from simulator.study.storage import (STUDIES_FOLDER, StudyBusyError, StudyFolder, load_spec_file, plots_folder,
                                     study_folder)
from training.cli import EXIT_BAD_INPUT, EXIT_OK

__all__ = ["BatchReport", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "EXIT_OK", "Progress", "STUDIES_FOLDER",
           "StudyBusyError", "StudyFolder", "StudyInterrupted", "StudyResult", "StudyScenario", "StudySpec",
           "format_summary", "load_spec_file", "main", "parse_study", "plots_folder", "ranked_summary",
           "run_study", "study_folder", "summary_row"]
