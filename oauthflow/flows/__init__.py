"""One coroutine module per grant: build -> send -> parse. No caching, no locks."""
