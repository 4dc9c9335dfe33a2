//go:build storeready

package middleware_test

import (
	"github.com/e5b1d45c/sessring/middleware"
	"github.com/e5b1d45c/sessring/store"
)

// The real cluster node satisfies the middleware's seams. Build with
// -tags storeready once package store compiles.
var (
	_ middleware.Store          = (*store.Node)(nil)
	_ middleware.ExpiryNotifier = (*store.Node)(nil)
)
