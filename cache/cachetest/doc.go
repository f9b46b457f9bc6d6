// Package cachetest is the conformance suite every cache.Backend runs: the
// in-memory backend now, the Redis backend later. Run it from a backend's
// tests with a constructor that returns a fresh, empty backend.
package cachetest
