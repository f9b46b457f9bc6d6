package destination

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"gocloud.dev/gcerrors"
)

// Classes of failure, tested with errors.Is on what the methods of a
// [Destination] return.
var (
	// ErrNotFound means the object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrUnavailable means the store cannot serve now: it refused or
	// dropped the connection, timed out, or answered with a server error.
	// Callers answer it with 502 or 503.
	ErrUnavailable = errors.New("destination unavailable")
	// ErrDenied means the store refused the credentials or the operation.
	ErrDenied = errors.New("destination denied access")
)

// Error is a failed operation on a destination. It wraps both its class
// (ErrNotFound, ErrUnavailable, ErrDenied, the context's error, or nothing)
// and the store's own error.
type Error struct {
	// Op is the operation: "open", "put", "get", "delete" or "list".
	Op string
	// Destination is the destination's URL without credentials.
	Destination string
	// Key is the object's key, or the prefix for "list".
	Key string
	// Class is ErrNotFound, ErrUnavailable, ErrDenied, the context's error
	// when the caller's context ended, or nil when none applies.
	Class error
	// Err is the underlying error.
	Err error
}

// Error returns "put KEY at URL: CLASS: ERR".
func (e *Error) Error() string {
	what := e.Op
	if e.Key != "" {
		what += " " + e.Key
	}
	if e.Class != nil && !errors.Is(e.Err, e.Class) {
		return fmt.Sprintf("%s at %s: %v: %v", what, e.Destination, e.Class, e.Err)
	}
	return fmt.Sprintf("%s at %s: %v", what, e.Destination, e.Err)
}

// Unwrap returns the class and the underlying error.
func (e *Error) Unwrap() []error {
	if e.Class == nil {
		return []error{e.Err}
	}
	return []error{e.Class, e.Err}
}

// URLError reports a destination URL that cannot be used.
type URLError struct {
	// URL is the URL as given, without credentials.
	URL string
	// Reason says what is wrong with it.
	Reason string
}

// Error returns "destination URL: reason".
func (e *URLError) Error() string { return fmt.Sprintf("destination %s: %s", e.URL, e.Reason) }

// KeyError reports an object key (or a List prefix) that is not allowed.
type KeyError struct {
	Key    string
	Reason string
}

// Error returns "invalid key "K": reason".
func (e *KeyError) Error() string { return fmt.Sprintf("invalid key %q: %s", e.Key, e.Reason) }

// deniedCodes are the S3 error codes of refused credentials or operations.
var deniedCodes = map[string]bool{
	"AccessDenied":          true,
	"AllAccessDisabled":     true,
	"AccountProblem":        true,
	"ExpiredToken":          true,
	"Forbidden":             true,
	"InvalidAccessKeyId":    true,
	"InvalidSecurity":       true,
	"InvalidToken":          true,
	"RequestTimeTooSkewed":  true,
	"SignatureDoesNotMatch": true,
	"TokenRefreshRequired":  true,
	// versitygw answers an unknown access key with 404 and this code.
	"XAdminUserNotFound": true,
}

// unavailableCodes are the S3 error codes of a store that cannot serve now.
var unavailableCodes = map[string]bool{
	"InternalError":      true,
	"RequestTimeout":     true,
	"ServiceUnavailable": true,
	"SlowDown":           true,
}

// classify returns the class of err, an error of an operation run with
// ctx: the context's own error when it ended, else ErrNotFound,
// ErrUnavailable, ErrDenied or nil.
func classify(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	// The file store's errors. (They come first: a syscall.Errno is also a
	// net.Error.)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotFound
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return ErrDenied
	case errors.Is(err, syscall.EIO), errors.Is(err, syscall.ESTALE), errors.Is(err, syscall.ENOTCONN):
		return ErrUnavailable
	}
	// Requests that got no answer: the SDK reports them as a response
	// error of status 0 that wraps the transport's error.
	var send *smithyhttp.RequestSendError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(err, &send), errors.As(err, &opErr), errors.As(err, &dnsErr),
		errors.As(err, &netErr) && netErr.Timeout(),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.ErrUnexpectedEOF):
		return ErrUnavailable
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		switch {
		case code == "NoSuchKey" || code == "NotFound":
			return ErrNotFound
		case deniedCodes[code]:
			return ErrDenied
		case unavailableCodes[code]:
			return ErrUnavailable
		case code == "NoSuchBucket":
			return nil
		}
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		switch status := resp.HTTPStatusCode(); {
		case status == http.StatusNotFound:
			return ErrNotFound
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return ErrDenied
		case status == http.StatusTooManyRequests || status >= 500:
			return ErrUnavailable
		}
		return nil
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return ErrNotFound
	case gcerrors.PermissionDenied:
		return ErrDenied
	}
	return nil
}

// fail wraps err, from the operation op on key run with ctx, in an *Error.
func (d *Destination) fail(ctx context.Context, op, key string, err error) error {
	return &Error{Op: op, Destination: d.url, Key: key, Class: classify(ctx, err), Err: err}
}
