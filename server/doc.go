// Package server is tenantflow's HTTP face: health and readiness now; the
// Camunda 7 compatible REST API, the tenant-manager admin API and the admin
// console are added on the same Server.
//
// It holds no business logic: handlers authenticate, resolve the tenant
// into the request context, call the engine or the datasource, and map
// their errors to HTTP status codes without showing internal detail.
//
// JSON responses carry Content-Type "application/json" exactly, without a
// charset parameter: Camunda REST clients compare the header verbatim.
package server
