"""Knowledge: documents in, cited answers out.

documents (content checks, parsing in a limited worker, splitting), store (Chroma collections,
the manifest, ingest / delete / rebuild), rag (retrieval and the LangChain RAG chain).
May import core.runtime only.
"""
