"""Lost sales leads: showroom prospects who did not buy, graded by the playbook's rules and by
a LightGBM model of P(buys from us within 90 days of the loss).

Modules: :mod:`~models.leads.config` (the ``leads:`` params block), :mod:`~models.leads.features`
(the lost-lead table, labels, point-in-time features), :mod:`~models.leads.rules` (grades,
routes, market-event triggers, CRM task rows), :mod:`~models.leads.diagnostics` (why leads are
lost) and :mod:`~models.leads.model` (training, the model-vs-rules evaluation, the whole stage
computation).
"""
