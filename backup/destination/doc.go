// Package destination owns where backups and exports go: a directory on
// this machine (file:///abs/dir) or a bucket of any S3-compatible store
// (s3://bucket?endpoint=…&region=…), both reached through gocloud.dev/blob.
//
// [Open] parses the URL and checks it without contacting the store, so a
// mistyped URL fails at once with a [*URLError] that names it (without its
// credentials). [Destination.Put] stores an object atomically: a reader
// sees the whole object or none, and a Put that fails (the source reader
// fails, the context ends, the store goes away) leaves nothing behind — no
// temporary file in the directory, no unfinished multipart upload in the
// bucket.
//
// Keys are slash-separated paths checked by [ValidateKey] before they reach
// a store: no empty, "." or ".." segment, no leading or trailing slash, no
// backslash or control character. A key valid on one destination is valid
// on every other.
//
// Failures of the store are classified: [ErrUnavailable] when it cannot be
// reached or answers with a server error (callers answer 502 or 503),
// [ErrDenied] when it refuses the credentials or the operation, and
// [ErrNotFound] when the object is missing. The returned [*Error] wraps
// both the class and the store's own error.
//
// The package pulls in the AWS SDK, so it is imported by the tenancy
// binary's commands, never by the root package.
package destination
