package server

import (
	_ "embed"
	"net/http"
)

// openAPI describes every route; TestOpenAPIDescribesEveryRoute keeps it and
// the route table in step.
//
//go:embed openapi.yaml
var openAPI []byte

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPI)
}
