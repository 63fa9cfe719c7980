"""oauthflow: asyncio-native OAuth 2.0 / OpenID Connect client for aiohttp."""
