"""Readers of real model files: Hugging Face config.json (hf.py)."""
