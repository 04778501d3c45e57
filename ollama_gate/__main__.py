"""``python -m ollama_gate``: the ``ollama-gate`` command, without installing it."""

if __name__ == "__main__":
    from ollama_gate.console import main

    main()
