package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/corr2d/corr2d/internal/pgtest"
)

// withPostgres stops the tests' private PostgreSQL, if one was started,
// before the leak check.
type withPostgres struct{ m *testing.M }

func (w withPostgres) Run() int { return pgtest.Main(w.m) }

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(withPostgres{m},
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		// Idle keep-alive connections of the test client close with it.
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}
