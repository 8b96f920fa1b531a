//go:build !go1.23

package metering

import "net/http"

// requestPattern: before Go 1.23 the request does not carry its pattern; WithMux or Route
// name it instead.
func requestPattern(*http.Request) string { return "" }
