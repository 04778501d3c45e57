"""The test suite: one folder per package of ollama_gate, end-to-end in system/."""
