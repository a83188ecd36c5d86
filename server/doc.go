// Package server is tenantflow's HTTP face: the Camunda 7 compatible REST
// API under /engine-rest (also as the named engine
// /engine-rest/engine/{tenant}/…), the tenant-manager admin API under
// /admin/api, the admin console under /console/, health (/healthz,
// /readyz), Prometheus metrics (/metrics) and the OpenAPI description
// (/openapi.yaml).
//
// It holds no business logic: handlers authenticate, resolve the tenant
// into the request context, call the engine or the datasource, and map
// their errors to HTTP status codes without showing internal detail.
//
// JSON responses carry Content-Type "application/json" exactly, without a
// charset parameter: Camunda REST clients compare the header verbatim.
package server
