"""Knowledge: documents in, cited answers out.

documents (content checks, parsing in a limited worker, splitting), store (Chroma collections,
the manifest, ingest / delete / rebuild), ingest_job (ingestion as a background job), retrieval
and keyword_index (search types), rag (the LangChain RAG chain), cloze (fill-in-the-blank
questions generated from the chunks, for eval sets and for training rows).
May import core.runtime only.
"""
