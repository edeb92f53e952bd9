// Package api holds the OpenAPI contract of the corr2d service.
//
// The document is embedded so that the binary serves exactly the contract it
// was built and tested against, and so that tests can validate handlers
// against it without locating files on disk.
package api

import _ "embed"

//go:embed openapi.yaml
var spec []byte

// OpenAPI returns the service's OpenAPI 3.0 document as YAML. Each call
// returns a fresh copy, so a caller that modifies it cannot change what the
// next caller (or the /openapi.yaml handler) sees.
func OpenAPI() []byte {
	return append([]byte(nil), spec...)
}
