"""Pure tests of oauthflow.protocol: no event loop, no network."""
