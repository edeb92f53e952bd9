// Package corr2dapi is the HTTP client of corr2d, generated from the
// service's OpenAPI document (api/openapi.yaml) by oapi-codegen: every
// route, its parameters and its schemas. Package client wraps it with
// .npy tensors and job waiting.
package corr2dapi

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config oapi-codegen.yaml ../../api/openapi.yaml
