"""Fake servers that speak Ollama's and Anthropic's wire formats."""
