package destination

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
)

// Destination is an opened place for backups and exports. Its methods are
// safe for concurrent use.
type Destination struct {
	url    string // without credentials
	bucket *blob.Bucket
	dir    string // the directory of a file destination, else ""

	// For s3 destinations: the client and its checksum setting, which the
	// uploads' transfer manager is given again (abortWithFreshContext).
	s3         *s3.Client
	bucketName string
	checksum   aws.RequestChecksumCalculation
}

// Object describes a stored object.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// String returns the destination's URL without credentials.
func (d *Destination) String() string { return d.url }

// Put stores what r yields under key, replacing any object there, and
// returns the number of bytes stored. The object appears whole when Put
// returns nil and not at all before. On any error — key invalid, r fails,
// ctx ends, the store fails — Put returns 0 and leaves nothing at the
// destination (a replaced object stays as it was); the error wraps r's
// error or ctx's when one of them was the cause.
//
// One window cannot be closed from the client: if ctx ends while the store
// is committing the object (the last request of the upload), the store may
// keep it although Put reports the cancellation.
func (d *Destination) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := ValidateKey(key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, d.fail(ctx, "put", key, err)
	}
	wctx, abort := context.WithCancel(ctx)
	defer abort()
	src := &source{ctx: wctx, r: r, abort: abort}
	opts := &blob.WriterOptions{ContentType: "application/octet-stream"}
	if d.s3 != nil {
		opts.BeforeWrite = d.abortWithFreshContext
	} else {
		// The file store writes a temporary file that its Close renames
		// into place; src syncs it first, so that a crash cannot leave a
		// published object partly written.
		opts.BeforeWrite = func(as func(any) bool) error {
			var f *os.File
			if as(&f) {
				src.atEOF = f.Sync
			}
			return nil
		}
	}
	// Upload hands src to the store's uploader as it is, so that a failing
	// src fails the upload rather than ending it early; src also ends
	// wctx, which makes the file store discard its temporary file instead
	// of publishing it.
	if err := d.bucket.Upload(wctx, key, src, opts); err != nil {
		switch {
		case src.syncErr != nil:
			err = src.syncErr
		case src.err != nil && ctx.Err() == nil:
			return 0, &Error{Op: "put", Destination: d.url, Key: key, Err: fmt.Errorf("reading the source: %w", src.err)}
		}
		return 0, d.fail(ctx, "put", key, err)
	}
	if d.dir != "" {
		// Make the rename itself durable. Should this fail (the disk
		// fails), the object may be in place although Put reports the
		// error.
		if err := syncDir(filepath.Dir(filepath.Join(d.dir, filepath.FromSlash(key)))); err != nil {
			return 0, d.fail(ctx, "put", key, err)
		}
	}
	return src.n, nil
}

// syncDir flushes a directory's entries to disk.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// abortWithFreshContext configures an s3 upload: the transfer manager that
// s3blob makes aborts a failed multipart upload with the upload's own
// context, which is already cancelled when the caller's context ended, so
// the parts would stay behind. It is replaced by one that aborts with a
// fresh context (FailTimeout) and is otherwise configured the same.
func (d *Destination) abortWithFreshContext(as func(any) bool) error {
	var tm *transfermanager.Client
	if !as(&tm) {
		return nil
	}
	*tm = *transfermanager.New(d.s3, func(o *transfermanager.Options) {
		o.RequestChecksumCalculation = d.checksum
		o.FailTimeout = abortTimeout
	})
	return nil
}

// source is the reader Put hands to the store: it counts the bytes and
// stops when ctx ends; on its reader's failure it keeps the error and
// cancels the upload. It yields io.EOF only in a call of its own, after
// all the data, and runs atEOF (the file store's sync) first.
type source struct {
	ctx     context.Context
	r       io.Reader
	abort   context.CancelFunc
	atEOF   func() error
	n       int64
	eof     bool
	err     error // the reader's
	syncErr error // atEOF's
}

// Read reads from the source reader unless the context has ended.
func (s *source) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	if s.eof {
		if s.atEOF != nil {
			if err := s.atEOF(); err != nil {
				s.syncErr = err
				s.abort()
				return 0, err
			}
			s.atEOF = nil
		}
		return 0, io.EOF
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	switch {
	case err == io.EOF:
		s.eof = true
		if n == 0 {
			return s.Read(p)
		}
		return n, nil
	case err != nil:
		s.err = err
		s.abort()
	}
	return n, err
}

// Get opens the object stored under key for reading; it is ErrNotFound
// when there is none. The reader reads with ctx, which must stay live
// until it is closed, and must be closed.
func (d *Destination) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	r, err := d.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, d.fail(ctx, "get", key, err)
	}
	return &reader{r: r, ctx: ctx, d: d, key: key}, nil
}

// reader classifies the errors of an object being read.
type reader struct {
	r   *blob.Reader
	ctx context.Context
	d   *Destination
	key string
}

// Read reads from the object.
func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = r.d.fail(r.ctx, "get", r.key, err)
	}
	return n, err
}

// Close closes the object.
func (r *reader) Close() error { return r.r.Close() }

// Delete removes the object stored under key; a missing object is not an
// error.
func (d *Destination) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	var err error
	if d.s3 != nil {
		// S3's DeleteObject succeeds for a missing key already. s3blob
		// asks HeadObject first (to report NotFound, which Delete does not
		// want): a second request, whose answer has no body and so no
		// error code to tell refused credentials from a missing object
		// on stores that answer those with 404. Valid keys need none of
		// s3blob's escaping, so the client is called as s3blob would.
		_, err = d.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(d.bucketName), Key: aws.String(key)})
	} else {
		err = d.bucket.Delete(ctx, key)
	}
	if err != nil {
		err = d.fail(ctx, "delete", key, err)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	return nil
}

// List returns the objects whose keys start with prefix, in key order.
// The prefix is "" (everything) or the start of a valid key, and may end
// with a slash.
func (d *Destination) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	var objects []Object
	it := d.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return objects, nil
		}
		if err != nil {
			return nil, d.fail(ctx, "list", prefix, err)
		}
		if o.IsDir || (d.dir != "" && tempName.MatchString(o.Key)) {
			continue
		}
		objects = append(objects, Object{Key: o.Key, Size: o.Size, ModTime: o.ModTime})
	}
}

// Close releases the destination.
func (d *Destination) Close() error { return d.bucket.Close() }
