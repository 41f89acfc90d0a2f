"""HTTP routers of the API, one per concern (included by ``api.app``)."""
