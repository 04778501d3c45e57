"""The fleet's model names, for the key form's allowlist: suggestions and warnings.

The rules live in ``ollama_gate.keyrules``, shared with the CLI; this module keeps
the names the admin pages import.
"""

from __future__ import annotations

from ..keyrules import fleet_model_names, unmatched

__all__ = ["fleet_model_names", "unmatched"]
