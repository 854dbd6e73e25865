"""edgecase: rare driving situations, written once in YAML, run as thousands of labelled episodes.

The public API (`load`, `loads`, `compile`, `run`) lives in edgecase.api and is imported on first use,
so that `import edgecase.errors` stays cheap.
"""

__version__ = "0.1.0"
__all__ = ["compile", "load", "loads", "run"]


def __getattr__(name: str):
    if name in __all__:
        from edgecase import api

        return getattr(api, name)
    raise AttributeError(f"module 'edgecase' has no attribute {name!r}")
