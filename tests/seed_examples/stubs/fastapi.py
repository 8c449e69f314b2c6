"""A stand-in for FastAPI, used by tests/test_seed_examples.py only when FastAPI is not installed.

It keeps what the seed's FastAPI example touches: ``FastAPI(lifespan=...)`` and the ``@app.post``
decorator (which registers the endpoint and returns it unchanged). A plain asyncio harness then
plays the server: enter the lifespan, await the endpoint, leave the lifespan.
"""


class FastAPI:
    def __init__(self, *, lifespan=None, **settings):
        self.lifespan = lifespan
        self.settings = settings
        self.routes = {}

    def post(self, path, **options):
        def register(endpoint):
            self.routes[("POST", path)] = endpoint
            return endpoint

        return register
