package destination

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/gotenancy/tenancy/internal/testenv"
)

// openTestS3 opens rawURL, closing the destination when the test ends.
func openTestS3(t *testing.T, rawURL string) *Destination {
	t.Helper()
	d, err := Open(context.Background(), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestS3(t *testing.T) {
	t.Parallel()
	rawURL := testenv.S3URL(t)
	exercise(t, store{
		open: func(t *testing.T) (*Destination, string) {
			d := openTestS3(t, rawURL)
			prefix := testenv.Name("dest") + "/"
			t.Cleanup(func() {
				ctx := context.Background()
				objects, _ := d.List(ctx, prefix)
				for _, o := range objects {
					d.Delete(ctx, o.Key)
				}
			})
			return d, prefix
		},
		// Unfinished multipart uploads: invisible to List, but stored.
		leftovers: func(t *testing.T, d *Destination, prefix string) []string {
			out, err := d.s3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{
				Bucket: aws.String(bucketOf(t, rawURL)),
				Prefix: aws.String(prefix),
			})
			if err != nil {
				t.Fatalf("list multipart uploads: %v", err)
			}
			var left []string
			for _, u := range out.Uploads {
				left = append(left, fmt.Sprintf("multipart upload %s of %s", aws.ToString(u.UploadId), aws.ToString(u.Key)))
			}
			return left
		},
	})
}

func bucketOf(t *testing.T, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// A store that is down fails every operation with ErrUnavailable within
// seconds (the client's retries and timeouts are bounded).
func TestS3Unavailable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	d := openTestS3(t, "s3://key:secret@tenancy-test?endpoint=http://"+addr+"&region=us-east-1")
	for name, op := range ops() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			err := op(context.Background(), d)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("%v, want ErrUnavailable", err)
			}
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Fatalf("took %v to find the store down", elapsed)
			}
			var opErr *net.OpError
			if !errors.As(err, &opErr) {
				t.Fatalf("%v does not wrap the network error", err)
			}
		})
	}
}

// Credentials the store does not accept give ErrDenied, and no error
// quotes them.
func TestS3Denied(t *testing.T) {
	t.Parallel()
	good, err := url.Parse(testenv.S3URL(t))
	if err != nil {
		t.Fatal(err)
	}
	id := good.User.Username()
	for name, user := range map[string]*url.Userinfo{
		"WrongSecret": url.UserPassword(id, "not-the-secret"),
		"UnknownKey":  url.UserPassword("no-such-key", "not-the-secret"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			u := *good
			u.User = user
			d := openTestS3(t, u.String())
			if strings.Contains(d.String(), "not-the-secret") {
				t.Fatalf("String() = %q shows the secret", d.String())
			}
			for name, op := range ops() {
				err := op(context.Background(), d)
				if !errors.Is(err, ErrDenied) {
					t.Errorf("%s: %v, want ErrDenied", name, err)
					continue
				}
				if strings.Contains(err.Error(), "not-the-secret") {
					t.Errorf("%s: the error shows the secret: %v", name, err)
				}
			}
		})
	}
}

// ops are one call of each method that reaches the store.
func ops() map[string]func(context.Context, *Destination) error {
	key := testenv.Name("dest") + "/object"
	return map[string]func(context.Context, *Destination) error{
		"Put": func(ctx context.Context, d *Destination) error {
			_, err := d.Put(ctx, key, bytes.NewReader([]byte("data")))
			return err
		},
		"Get": func(ctx context.Context, d *Destination) error {
			r, err := d.Get(ctx, key)
			if err == nil {
				r.Close()
			}
			return err
		},
		"List": func(ctx context.Context, d *Destination) error {
			_, err := d.List(ctx, key)
			return err
		},
		"Delete": func(ctx context.Context, d *Destination) error {
			return d.Delete(ctx, key)
		},
	}
}
