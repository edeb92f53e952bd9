package tensor_test

import (
	"testing"

	"go.uber.org/goleak"
)

// WriteJSON and AppendJSONParallel start goroutines; none may outlive a test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
