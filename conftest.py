pytest_plugins = ["dataflow.conformance.plugin"]
