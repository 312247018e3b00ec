"""Imported by the fork server local Dask workers start from (a fork server's preload is a list of
modules to import): prepares what every worker forked from it inherits (:mod:`auditor.engine.worker_start`)."""

from auditor.engine.worker_start import prepare

prepare()
