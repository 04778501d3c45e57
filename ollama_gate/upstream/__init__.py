"""The upstream Ollama client: header rules, pooled connections, the chunked-body
decoder, and the client with its error mapping."""

from .chunked import ChunkDecoder, LastPiece
from .client import StreamedBody, Upstream, iter_available
from .headers import forward_headers, response_headers

__all__ = [
    "ChunkDecoder",
    "LastPiece",
    "StreamedBody",
    "Upstream",
    "forward_headers",
    "response_headers",
    "iter_available",
]
