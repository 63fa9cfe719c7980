"""Pure OAuth 2.0 protocol: build HttpRequest values, parse HttpResponse values.

No aiohttp, no asyncio, no clock reads: time is a parameter.
"""

__all__: list[str] = []
