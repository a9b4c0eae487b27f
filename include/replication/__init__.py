"""The replication engine: the core (plan, load, verify, copy/), one package per engine, and airflow/.

docs/architecture.md lists every module and follows one row from the source catalog to a
verified target table.
"""
