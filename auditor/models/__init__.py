"""Model kinds: one adapter per kind behind one protocol (base.py), the caching, batching wrapper, and safe loading."""
