"""The work behind each DAG's tasks; DAG files only wire these together."""
