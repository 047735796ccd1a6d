"""Reconciliation: per commitment, Procore's figures beside the ERP's and the cause of each difference, read
from what the hourly sync and the payment import already hold (no vendor calls; ``docs/reconciliation.md``).

``model`` holds the shapes, ``compute`` the figures and causes, ``history`` opens and closes the differences
and ``job`` runs it as a tracked run; ``view``, ``export`` and ``report`` show it on the page, as a file and in
words; ``demo_step`` is the demo's scene. ``releases`` settles, at each refresh, the subcontractor invoices whose
retainage release the ERP has made."""
