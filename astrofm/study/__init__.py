"""The paper's comparison on your own data: one described grid, one resumable run, a report.

Describe the grid once (:class:`Study`, or a TOML file read by :func:`load_study`);
:func:`run_study` (``astrofm study STUDY.toml -o DIR``) runs every cell, skipping the
ones a killed run already finished, and writes ``results.ecsv``, the feature tables
and a self-contained ``report.html`` (:func:`astrofm.study.report.render`, also
``astrofm report DIR``). :func:`demo_study` builds the offline demo
(``astrofm study --demo -o DIR``).
"""

from astrofm.study.config import Study, load_study
from astrofm.study.grid import Cell, expand, variant_preprocessing
from astrofm.study.runner import StudyRun, run_study

__all__ = ["Study", "load_study", "run_study", "StudyRun", "Cell", "expand",
           "variant_preprocessing"]
