//go:build go1.23

package metering

import "net/http"

// requestPattern is the ServeMux pattern that matched (Go 1.23+ records it on the request).
func requestPattern(r *http.Request) string { return r.Pattern }
