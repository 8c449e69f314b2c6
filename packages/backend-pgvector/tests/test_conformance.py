"""The vector conformance suite on PostgreSQL 18 + pgvector 0.8."""

from dataflow_pgvector.conformance import VectorSearchSuite


class TestVectorSearch(VectorSearchSuite):
    pass
