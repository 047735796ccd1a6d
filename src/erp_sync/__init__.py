"""ERP Sync: the domain code shared by the DAGs, the connectors' callers and the tools."""
