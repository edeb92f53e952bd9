package handlers

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/corr2d/corr2d/internal/web"
)

// pageCSP lets the pages load only what this server serves: no CDN, no
// third-party script, and no framing by other sites. Swagger UI sets
// inline styles, and pictures are drawn from data and blob URLs.
const pageCSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// serveAsset answers with an embedded file, or 304 when the client holds
// the same version.
func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request, a web.Asset) {
	h := w.Header()
	h.Set("ETag", a.ETag)
	h.Set("Cache-Control", "no-cache") // revalidate: the binary may have been upgraded
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Header.Get("If-None-Match") == a.ETag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeBody(w, r, http.StatusOK, a.ContentType, a.Body)
}

func (s *Server) docsPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", pageCSP)
	s.serveAsset(w, r, s.pages.Docs())
}

func (s *Server) docsAsset(w http.ResponseWriter, r *http.Request) {
	s.serveNamed(w, r, s.pages.DocsAsset)
}

func (s *Server) playground(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", pageCSP)
	s.serveAsset(w, r, s.pages.Playground())
}

func (s *Server) playgroundAsset(w http.ResponseWriter, r *http.Request) {
	s.serveNamed(w, r, s.pages.PlaygroundAsset)
}

// serveNamed answers with the asset named by the route's {file}, or 404.
func (s *Server) serveNamed(w http.ResponseWriter, r *http.Request, lookup func(string) (web.Asset, bool)) {
	a, ok := lookup(chi.URLParam(r, "file"))
	if !ok {
		s.writeError(w, r, &apiError{status: http.StatusNotFound, code: codeNotFound, detail: "no such file"})
		return
	}
	s.serveAsset(w, r, a)
}

// problemType is where a problem's type URI, /problems/<code>, leads: the
// reference page's explanation of it.
func (s *Server) problemType(w http.ResponseWriter, r *http.Request) {
	to, ok := s.pages.ProblemAnchor(chi.URLParam(r, "code"))
	if !ok {
		s.writeError(w, r, &apiError{status: http.StatusNotFound, code: codeNotFound, detail: "no such problem type"})
		return
	}
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusFound)
}
