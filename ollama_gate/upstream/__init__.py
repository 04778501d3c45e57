"""The upstream Ollama client: header rules, pooled connections, the chunked-body
decoder, and the client with its error mapping."""

from .chunked import ChunkDecoder, LastPiece
from .client import StreamedBody, Upstream
from .headers import forward_headers, response_headers
from .pieces import StreamedPieces, iter_available

__all__ = [
    "ChunkDecoder",
    "LastPiece",
    "StreamedBody",
    "StreamedPieces",
    "Upstream",
    "forward_headers",
    "response_headers",
    "iter_available",
]
