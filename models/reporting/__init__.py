"""Presentation of the stages' results: figures (PNG), Markdown reports and tables for humans.

One module per domain (:mod:`~models.reporting.evaluation`,
:mod:`~models.reporting.explanation`, :mod:`~models.reporting.policy`,
:mod:`~models.reporting.score`, :mod:`~models.reporting.monitor`,
:mod:`~models.reporting.leads`, :mod:`~models.reporting.bench`) draws what the computation
modules return; :mod:`~models.reporting.figures` is the one place matplotlib is set up and
figures are saved, :mod:`~models.reporting.markdown` the one Markdown table writer, and
:mod:`~models.reporting.html` the one self-contained HTML report of a run (its words in
:mod:`~models.reporting.i18n`, its plain-words verdict in :mod:`~models.reporting.verdict`).
Nothing here computes a metric: every number shown comes from the computation modules.
"""
