"""The HTTP contract: the decorators routes describe themselves with and the OpenAPI 3.1
document built from them (`openapi`), the refusals no schema can carry (`refusals`), and the
routes serving it (`/docs`, `/docs/openapi.json`) or building it offline (`vendr openapi`)."""
