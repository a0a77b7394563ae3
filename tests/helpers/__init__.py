"""Programs and helpers the tests run: helper processes, a real server process, file checks."""
