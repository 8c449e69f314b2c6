# Root conftest (only a root conftest may set pytest_plugins): the conformance suite's fixtures, the test
# servers' plugin (install / skip / fail when a Debian package is missing), and pytester for testing that plugin.
pytest_plugins = ["dataflow.conformance.plugin", "dataflow_testing.plugin", "pytester"]
