"""PostgreSQL + pgvector: the index backend for more than one machine, and a local server to try it.

`server` starts a throwaway local PostgreSQL (tests, people trying the backend);
`index` (retrieval/postgres/index.py) stores and serves the index in it.
Both need the `postgres` extra (`pip install -e '.[postgres]'`).
"""
