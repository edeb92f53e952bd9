package handlers

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/oklog/ulid/v2"
)

// maxRequestIDLen bounds a request id a client may choose.
const maxRequestIDLen = 64

// requestID gives every request an id, answers it in X-Request-Id, and
// puts it where logs and problems find it (chi's request id key). A
// client's own X-Request-Id is kept only when it is short and printable,
// so that it can neither bloat nor forge log lines; otherwise the server
// makes one.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = ulid.Make().String()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), middleware.RequestIDKey, id)))
	})
}

// validRequestID accepts 1 to maxRequestIDLen visible ASCII characters:
// no spaces, no control characters, nothing outside ASCII.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
