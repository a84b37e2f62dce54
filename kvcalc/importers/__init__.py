"""Readers of real model files: Hugging Face config.json (hf.py) and GGUF (gguf_file.py)."""
