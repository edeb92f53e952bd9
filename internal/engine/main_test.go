package engine_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test must stop the workers it starts; goleak fails the package
// otherwise.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
