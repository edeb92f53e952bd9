package apitest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The transport tests run real HTTP servers and clients; every connection
// they open must be closed by the time the package's tests end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
